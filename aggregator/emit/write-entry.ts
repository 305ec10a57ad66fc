// One object the CR writer holds: its document, what it knows of the cluster's copy, who
// waits for its next write and when that write is due. writer.ts schedules entries,
// write-attempt.ts writes one, write-failure.ts decides what a failed write means for it.
import { Backoff } from "../../shared/backoff.ts";
import type { Timer } from "../../shared/clock.ts";
import type { Doc, WriteWaiter } from "./write-waiter.ts";

export interface Entry {
  key: string;
  doc: Doc;
  loaded: boolean;
  exists: boolean;
  /** The object was created by this replica (for the pod Event). */
  created: boolean;
  resourceVersion: string | undefined;
  waiters: WriteWaiter[];
  dirty: boolean;
  /** Monotonic ms of the oldest change not yet taken by a write (meaningful while dirty). */
  dirtySinceMono: number;
  escalate: boolean;
  running: boolean;
  timer: Timer | undefined;
  dueAt: number;
  notBefore: number;
  lastWriteMono: number | undefined;
  lastTouchMono: number;
  backoff: Backoff;
  conflicts: number;
  /** Source of the oldest change waiting (fair-budget.ts). */
  source: string;
  /** Failed writes since the last success: > 0 means retrying. */
  failures: number;
  /** Set while a request of the entry waits for a read slot or a write token: aborting it withdraws the request. */
  queued: AbortController | undefined;
  /** Estimated heap of the waiters in `waiters` (held-bytes.ts). */
  waiterBytes: number;
  /** Estimated heap held (document and waiters), as last charged to `charged` (write-holdings.ts). */
  bytes: number;
  charged: string | undefined;
}

/** Which request of a write failed: the first-touch GET, the spec apply or the status apply. */
export type Phase = "read" | "spec" | "status";

export function newEntry(key: string, doc: Doc, retry: { initialMs: number; maxMs: number }): Entry {
  return {
    key,
    doc,
    loaded: doc.kind !== "KernelWhisper",
    exists: false,
    created: false,
    resourceVersion: undefined,
    waiters: [],
    dirty: false,
    dirtySinceMono: 0,
    escalate: false,
    running: false,
    timer: undefined,
    dueAt: 0,
    notBefore: 0,
    lastWriteMono: undefined,
    lastTouchMono: 0,
    backoff: new Backoff(retry),
    conflicts: 0,
    source: "",
    failures: 0,
    queued: undefined,
    waiterBytes: 0,
    bytes: 0,
    charged: undefined,
  };
}

/** A change not yet written: dirty, being written, or waited on. */
export function isPending(e: Entry): boolean {
  return e.dirty || e.running || e.waiters.length > 0;
}

/**
 * May be shed: waiting to be written, and no request in flight — waiting for a read slot or
 * a write token is not a request yet: it is withdrawn.
 */
export function isSheddable(e: Entry): boolean {
  return (e.dirty || e.waiters.length > 0) && (!e.running || e.queued !== undefined);
}

/** Nothing to write and nothing scheduled: the entry may be forgotten (re-read on its next change). */
export function isIdle(e: Entry): boolean {
  return !e.running && !e.dirty && e.waiters.length === 0 && !e.timer;
}
