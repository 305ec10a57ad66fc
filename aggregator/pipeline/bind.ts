// Node binding (--verify-pods): each event's pod as the API server has it. A pod on another
// node than the connection's refuses the whole batch (nothing of it was handed to the writer
// yet); a pod gone and never seen alive drops its event; every other event goes on with the
// pod's labels and owners as the API server has them (docs/security.md).
import { KernelGossipError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import type { PodRef } from "../../shared/proto.ts";
import type { Binding, PodBinder } from "../enrich/pods.ts";
import type { BatchContext } from "../types/index.ts";
import type { PipelineMetrics } from "./metrics.ts";
import type { PendingBatch } from "./pending-batch.ts";
import type { Forget, Fresh } from "./types.ts";

export interface BindDeps {
  binder: PodBinder;
  metrics: PipelineMetrics;
  log: Logger;
  forget: Forget;
}

/**
 * Binds the batch's pods (cache hits synchronously, one lookup per miss), then hands the
 * events that go on to `next`. Returns a promise only when it had to wait.
 */
export function bindBatch(
  d: BindDeps,
  ctx: BatchContext,
  batch: PendingBatch,
  fresh: Fresh[],
  next: (kept: Fresh[]) => Promise<void> | undefined,
): Promise<void> | undefined {
  const bindings: (Binding | undefined)[] = new Array(fresh.length);
  let lookups: Promise<void>[] | undefined;
  // Events about one pod share its ref (the batch's pod table): the cache is asked once per
  // ref in this synchronous pass (its answer cannot change during it), not once per event.
  const known = new Map<PodRef, Binding>();
  for (let i = 0; i < fresh.length; i++) {
    const pod = (fresh[i] as Fresh).ev.pod;
    if (!pod?.uid || !pod.namespace || !pod.name) continue; // identifyPod drops it, warned
    let cached = known.get(pod);
    if (!cached) {
      cached = d.binder.bindCached(pod, ctx.node);
      if (cached) known.set(pod, cached);
    }
    if (cached) bindings[i] = cached;
    else {
      lookups ??= [];
      lookups.push(
        d.binder.bind(pod, ctx.node).then((b) => {
          bindings[i] = b;
        }),
      );
    }
  }
  const bound = (): Promise<void> | undefined => next(applyBindings(d, ctx, batch, fresh, bindings));
  if (lookups) return Promise.all(lookups).then(bound);
  return bound();
}

/** The events that go on, each with its pod as the API server has it; throws KG_NODE_MISMATCH. */
function applyBindings(
  d: BindDeps,
  ctx: BatchContext,
  batch: PendingBatch,
  fresh: Fresh[],
  bindings: (Binding | undefined)[],
): Fresh[] {
  for (let i = 0; i < fresh.length; i++) {
    const b = bindings[i];
    if (b?.kind !== "mismatch") continue;
    const { ev } = fresh[i] as Fresh;
    throw new KernelGossipError(
      "KG_NODE_MISMATCH",
      `batch ${ctx.seq ?? 0} event ${ev.id} is about pod ${ev.pod?.namespace}/${ev.pod?.name}, which the API server has on node "${b.actualNode}", connection is bound to node "${ctx.node}"`,
    );
  }
  let gone = 0;
  for (let i = 0; i < fresh.length; i++) {
    const b = bindings[i];
    if (b?.kind === "gone") gone++;
    else if (b?.kind === "ok") (fresh[i] as Fresh).ev.pod = b.pod;
  }
  // Usually every event goes on: the batch's own list then, not a copy of it.
  if (gone === 0) return fresh;
  const kept: Fresh[] = [];
  for (let i = 0; i < fresh.length; i++) {
    const f = fresh[i] as Fresh;
    if (bindings[i]?.kind === "gone") d.forget(batch, f);
    else kept.push(f);
  }
  batch.dropped += gone;
  d.metrics.eventsDropped.inc({ reason: "pod_not_found" }, gone);
  d.log.debug(
    { node: ctx.node, seq: ctx.seq, events: gone },
    "events about pods that no longer exist and were never seen alive by this replica dropped",
  );
  return kept;
}
