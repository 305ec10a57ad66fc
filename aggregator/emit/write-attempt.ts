// One write of one object: the first-touch GET of a whisper (how far the cluster's copy
// counted), the spec apply that creates it, the status apply that carries the counts. Every
// request takes a token from the fair budget first (fair-budget.ts), in the lane the entry's
// state says; the waiters the write answers are taken at render time, after the token, so
// waiting for a token coalesces too.
//
// The attempt records what it took and which request it was on in `Attempt`: writer.ts
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
  metrics: Pick<EmitMetrics, "crWrites" | "crWriteDuration" | "writeTokenWait" | "writeLag">;
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
    try {
      observed = await client.get(WHISPER_PLURAL, doc.namespace, doc.name);
    } finally {
      release();
    }
    adopt(ctx, doc, observed);
    entry.loaded = true;
    entry.exists = observed !== undefined;
    entry.resourceVersion = rvOf(observed);
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
    doc.committed(delta);
    entry.resourceVersion = rvOf(body);
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
  try {
    const result = await call();
    ctx.metrics.crWrites.inc({ kind, outcome: "success" });
    return result;
  } catch (err) {
    ctx.metrics.crWrites.inc({ kind, outcome: outcomeOf(statusOf(err)) });
    throw err;
  } finally {
    ctx.metrics.crWriteDuration.observe({ kind }, (ctx.clock.monotonic() - started) / 1000);
  }
}

function adopt(ctx: AttemptContext, doc: WhisperState, observed: KObj | undefined): void {
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
