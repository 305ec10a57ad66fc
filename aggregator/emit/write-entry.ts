// One object the CR writer holds: its document, what it knows of the cluster's copy, who
// waits for its next write and when that write is due. write-schedule.ts schedules entries,
// write-attempt.ts writes one, write-failure.ts decides what a failed write means for it.
import { Backoff } from "../../shared/backoff.ts";
import type { Clock, Timer } from "../../shared/clock.ts";
import { WAITER_BASE } from "./held-bytes.ts";
import type { KObj } from "./types.ts";
import type { Doc, WriteWaiter } from "./write-waiter.ts";

export interface Entry {
  key: string;
  doc: Doc;
  loaded: boolean;
  exists: boolean;
  /** The object was created by this replica (for the pod Event). */
  created: boolean;
  resourceVersion: string | undefined;
  /** A request of this entry is on the wire (rendered and sent, no answer yet): its answer decides, the watch must not merge under it. */
  sending: boolean;
  /** The newest copy the whisper watch delivered while a request was on the wire (whisper-watch.ts): taken in after it if still newer. */
  seen: KObj | undefined;
  /** The resourceVersion the next write carries came from the watch (for the conflicts-avoided count). */
  fromWatch: boolean;
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
    sending: false,
    seen: undefined,
    fromWatch: false,
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

/**
 * When the entry's next write is due: `minIntervalMs` after its last write, at once for its
 * first write, an escalation or while flushing at stop; never before a retry's backoff ends.
 */
export function dueAt(e: Entry, nowMono: number, minIntervalMs: number, flushing: boolean): number {
  let due = nowMono;
  if (!flushing && !e.escalate && e.lastWriteMono !== undefined) due = e.lastWriteMono + minIntervalMs;
  return Math.max(due, e.notBefore);
}

/**
 * Lets go of everything the entry waits for (its timer, a request queued for a slot or token,
 * aborted with `reason`) and returns its waiters, for the caller to answer.
 */
export function abandon(e: Entry, clock: Clock, reason: Error): WriteWaiter[] {
  if (e.timer) clock.clearTimeout(e.timer);
  e.timer = undefined;
  e.queued?.abort(reason);
  e.dirty = false;
  e.escalate = false;
  e.waiterBytes = 0;
  return e.waiters.splice(0);
}

/** Adds a batch's waiter (a shared state waiter once) and charges its bytes. */
export function attachWaiter(e: Entry, waiter: WriteWaiter): void {
  if (waiter.shared && e.waiters.includes(waiter)) return;
  e.waiters.push(waiter);
  e.waiterBytes += waiter.heldBytes ?? WAITER_BASE;
}

/** Charges the waiters still held (after a write answered some). */
export function recountWaiterBytes(e: Entry): void {
  e.waiterBytes = 0;
  for (const w of e.waiters) e.waiterBytes += w.heldBytes ?? WAITER_BASE;
}

/** A write succeeded: the interval restarts, retry state is cleared. */
export function markWritten(e: Entry, nowMono: number): void {
  e.lastWriteMono = nowMono;
  e.backoff.reset();
  e.conflicts = 0;
  e.failures = 0;
  e.notBefore = 0;
}
