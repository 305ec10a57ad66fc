// One write of one object: the first-touch GET of a whisper (how far the cluster's copy
// counted), the spec apply that creates it, the status apply that carries the counts. Every
// request takes a token from the fair budget first (fair-budget.ts), in the lane the entry's
// state says; the waiters the write answers are taken at render time, after the token, so
// waiting for a token coalesces too.
//
// The attempt records what it took and which request it was on in `Attempt`: write-schedule.ts
// answers the taken waiters on success, write-failure.ts decides on failure.

import type { Clock } from "../../shared/clock.ts";
import { statusOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import { BIRTH_PLURAL } from "./birth.ts";
import type { FairBudget, FairReads, Lane } from "./fair-budget.ts";
import type { CrClient } from "./kube.ts";
import type { EmitMetrics } from "./metrics.ts";
import { emptyDelta, type KObj, WHISPER_PLURAL, type WhisperState, type WrittenDelta } from "./whisper.ts";
import type { Entry, Phase } from "./write-entry.ts";
import { outcomeOf, RenderError } from "./write-errors.ts";
import type { WriteWaiter } from "./write-waiter.ts";

export interface AttemptContext {
  client: CrClient;
  clock: Clock;
  log: Logger;
  metrics: Pick<
    EmitMetrics,
    "crWrites" | "crWriteDuration" | "writeTokenWait" | "writeLag" | "whisperWatchConflictsAvoided"
  >;
  budget: FairBudget;
  reads: FairReads;
  /** Called after a whisper was first created by this replica. */
  onCreated?: (doc: WhisperState) => void;
}

/** What an attempt took from the entry (answered by the caller) and the request it was on. */
export interface Attempt {
  taken: WriteWaiter[];
  phase: Phase;
}

/** Writes `entry` once; throws the failed request's error (attempt.phase says which). */
export async function writeEntry(ctx: AttemptContext, entry: Entry, attempt: Attempt): Promise<void> {
  const { client } = ctx;
  const doc = entry.doc;
  if (!entry.loaded && doc.kind === "KernelWhisper") {
    const queued = new AbortController();
    entry.queued = queued;
    let release: () => void;
    try {
      release = await ctx.reads.acquire(entry.source, queued.signal);
    } finally {
      entry.queued = undefined;
    }
    let observed: KObj | undefined;
    entry.sending = true;
    try {
      observed = await client.get(WHISPER_PLURAL, doc.namespace, doc.name);
    } catch (err) {
      entry.seen = undefined;
      throw err;
    } finally {
      entry.sending = false;
      release();
    }
    observe(ctx, entry, observed);
    takeInSeen(ctx, entry);
  }
  let created = false;
  if (!entry.exists) {
    attempt.phase = "spec";
    const applied = await request(ctx, entry, true, async () => {
      if (doc.kind === "PodBirthCertificate") {
        observeLag(ctx, entry);
        attempt.taken = entry.waiters.splice(0);
        entry.dirty = false;
        entry.escalate = false;
        return client.apply(
          BIRTH_PLURAL,
          rendered(() => doc.body()),
        );
      }
      return client.apply(
        WHISPER_PLURAL,
        rendered(() => doc.specBody()),
      );
    });
    entry.exists = true;
    created = true;
    // 201: this replica created it (the other replica may have raced us to it: then 200)
    entry.created = doc.kind === "KernelWhisper" && applied.created;
    entry.resourceVersion = rvOf(applied.object);
    if (doc.kind === "KernelWhisper" && !applied.created) {
      // Another replica created it after our read (and may have written counts since):
      // the object as the apply returned it is the baseline, or its counts would be
      // overwritten by ours with a resourceVersion that is not stale.
      adopt(ctx, doc, applied.object);
    }
    if (doc.kind === "KernelWhisper") takeInSeen(ctx, entry);
  }
  if (doc.kind === "KernelWhisper") {
    attempt.phase = "status";
    let delta: WrittenDelta = emptyDelta();
    // Not withdrawn once this attempt created the object: it would stay without a status.
    const body = await request(ctx, entry, !created, async () => {
      observeLag(ctx, entry);
      attempt.taken = attempt.taken.concat(entry.waiters.splice(0));
      entry.dirty = false;
      entry.escalate = false;
      const status = rendered(() => doc.statusBody(entry.resourceVersion));
      delta = status.delta;
      return client.applyStatus(WHISPER_PLURAL, status.body);
    });
    const uid = body?.metadata?.uid;
    doc.committed(delta, typeof uid === "string" ? uid : undefined);
    entry.resourceVersion = rvOf(body);
    if (entry.fromWatch) ctx.metrics.whisperWatchConflictsAvoided.inc();
    entry.fromWatch = false;
    takeInSeen(ctx, entry);
    if (entry.created) {
      entry.created = false;
      try {
        ctx.onCreated?.(doc);
      } catch (err) {
        ctx.log.warn({ err, name: doc.name }, "pod event hook failed");
      }
    }
  }
}

/** The lane an entry's next request waits in (fair-budget.ts). */
function laneOf(entry: Entry): Lane {
  // Writes no ack waits for (state, ADR 0011) queue behind the others.
  if (!entry.waiters.some((w) => w.urgent !== false)) return "state";
  if (entry.failures > 0 || entry.conflicts > 0) return "retry";
  return entry.doc.kind === "PodBirthCertificate" ? "birth" : "first";
}

/** How long the oldest change this write carries waited for it (before its waiters are taken). */
function observeLag(ctx: AttemptContext, entry: Entry): void {
  if (!entry.dirty) return;
  const lag = ctx.clock.monotonic() - entry.dirtySinceMono;
  ctx.metrics.writeLag.observe({ lane: laneOf(entry) }, Math.max(0, lag) / 1000);
}

/** One request after its write token; `withdrawable`: while it waits, shedding the entry withdraws it. */
async function request<T>(
  ctx: AttemptContext,
  entry: Entry,
  withdrawable: boolean,
  call: () => Promise<T>,
): Promise<T> {
  const kind = entry.doc.kind;
  const lane = laneOf(entry);
  const asked = ctx.clock.monotonic();
  const queued = withdrawable ? new AbortController() : undefined;
  entry.queued = queued;
  try {
    await ctx.budget.acquire(lane, entry.source, queued?.signal);
  } finally {
    entry.queued = undefined;
  }
  const started = ctx.clock.monotonic();
  ctx.metrics.writeTokenWait.observe({ lane }, (started - asked) / 1000);
  // From here until the answer, the watch does not merge into the entry (observed()).
  entry.sending = true;
  try {
    const result = await call();
    ctx.metrics.crWrites.inc({ kind, outcome: "success" });
    return result;
  } catch (err) {
    ctx.metrics.crWrites.inc({ kind, outcome: outcomeOf(statusOf(err)) });
    // Whatever the watch delivered meanwhile is not taken in: the failure's path decides
    // (a 409 re-reads the object, other failures retry with what the entry has).
    entry.seen = undefined;
    entry.fromWatch = false;
    throw err;
  } finally {
    entry.sending = false;
    ctx.metrics.crWriteDuration.observe({ kind }, (ctx.clock.monotonic() - started) / 1000);
  }
}

/**
 * Takes in the whisper as the cluster holds it — read after first touch or a 409, or
 * delivered by the watch (whisper-watch.ts) — the one way the entry learns of other
 * replicas' writes: its count becomes the baseline, its delivery ledger and episode record
 * drop what this replica would count again (WhisperState.adopt), and the next status write
 * carries its resourceVersion. undefined: the object does not exist.
 */
export function observe(ctx: Pick<AttemptContext, "log">, entry: Entry, observed: KObj | undefined): void {
  adopt(ctx, entry.doc as WhisperState, observed);
  entry.loaded = true;
  entry.exists = observed !== undefined;
  entry.resourceVersion = rvOf(observed);
}

/** What the watch did with a copy of a whisper the writer holds (observeFromWatch). */
export type WatchResult = "merged" | "deferred" | "not_newer" | "unread";

/**
 * What the watch may do with `object`, a copy of the entry's whisper:
 * - "merged": newer than the entry's copy and no request of the entry on the wire: taken in
 *   now (observe, as after a 409), so the next status write carries its resourceVersion;
 * - "deferred": a request of the entry is on the wire (a read or an apply): its answer
 *   decides. The copy is kept in `entry.seen` and taken in after a successful answer only if
 *   still newer than it (a failed one drops it: the failure's path decides);
 * - "unread": the entry's first read, or its re-read after a 409, is still to come: it reads;
 * - "not_newer": our own write echoing back, an older event, or resourceVersions that are
 *   not integers (isNewer).
 */
export function observeFromWatch(ctx: Pick<AttemptContext, "log">, entry: Entry, object: KObj): WatchResult {
  const rv = rvOf(object);
  if (rv === undefined) return "not_newer";
  if (entry.sending) {
    if (entry.seen !== undefined && !isNewer(rv, rvOf(entry.seen))) return "not_newer";
    if (entry.loaded && !isNewer(rv, entry.resourceVersion)) return "not_newer";
    entry.seen = object;
    return "deferred";
  }
  if (!entry.loaded) return "unread";
  if (!isNewer(rv, entry.resourceVersion)) return "not_newer";
  observe(ctx, entry, object);
  entry.seen = undefined;
  entry.fromWatch = true;
  return "merged";
}

/** After an answer: what the watch delivered meanwhile, if newer than the answer. */
function takeInSeen(ctx: Pick<AttemptContext, "log">, entry: Entry): void {
  const seen = entry.seen;
  entry.seen = undefined;
  if (seen === undefined || !isNewer(rvOf(seen), entry.resourceVersion)) return;
  observe(ctx, entry, seen);
  entry.fromWatch = true;
}

/**
 * `a` is a later resourceVersion than `b` (undefined b: the object was not there). Kubernetes
 * calls them opaque; kube-apiserver's are etcd revisions, decimal integers that grow with
 * every write. Anything else is not compared (false): the write path's 409 still decides.
 */
export function isNewer(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || !DECIMAL.test(a)) return false;
  if (b === undefined) return true;
  if (!DECIMAL.test(b)) return false;
  return a.length !== b.length ? a.length > b.length : a > b;
}

const DECIMAL = /^[1-9][0-9]*$/;

function adopt(ctx: Pick<AttemptContext, "log">, doc: WhisperState, observed: KObj | undefined): void {
  const { malformed } = doc.adopt(observed);
  if (malformed > 0) {
    ctx.log.warn(
      { namespace: doc.namespace, name: doc.name, malformed },
      "the whisper's status.deliveries held malformed entries; they were ignored (a batch they named may be counted again). Was the status edited by hand?",
    );
  }
}

/** The body `render` returns; a throw (e.g. a date no Date can hold) becomes a RenderError: permanent. */
function rendered<T>(render: () => T): T {
  try {
    return render();
  } catch (err) {
    throw new RenderError(`rendering the object failed: ${(err as Error).message}`);
  }
}

function rvOf(obj: KObj | undefined): string | undefined {
  const rv = obj?.metadata?.resourceVersion;
  return typeof rv === "string" ? rv : undefined;
}
