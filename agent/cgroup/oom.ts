// Kernel OOM kills and the kubelet merge rule.
//
// An oom_kill counter increase is held for one scan (the grace), then the pod is looked
// up again: if the same container instance is still running, its main process survived
// and nobody else will report the kill → a kernel OOM event (mainProcessSurvived=true).
// If the instance stopped, restarted (new id) or the pod is gone, the kubelet reports the
// OOMKilled itself (the pod watch turns it into a PodFailure): one event, not two, so the
// kernel side only counts it as merged.
import { OomSource, type WireEvent } from "../../shared/proto.ts";
import type { PodDirectory, PodView } from "../types.ts";
import { bareContainerId } from "./paths.ts";

export interface OomObservation {
  podUid: string;
  container: string;
  bareId: string;
  kills: number;
  /** Counter value after the increase; part of the event id so a resend is the same event. */
  counterValue: number;
  memoryLimitBytes: number;
  memoryPeakBytes: number;
  observedAtMs: number;
  scan: number;
}

export interface OomDecision {
  emit: { observation: OomObservation; pod: PodView }[];
  merged: OomObservation[];
}

export class OomMerger {
  #pending: OomObservation[] = [];

  add(observation: OomObservation): void {
    this.#pending.push(observation);
  }

  get pending(): number {
    return this.#pending.length;
  }

  /** Decides every observation made before `scan`. */
  decide(scan: number, pods: PodDirectory): OomDecision {
    const decision: OomDecision = { emit: [], merged: [] };
    const waiting: OomObservation[] = [];
    for (const o of this.#pending) {
      if (o.scan >= scan) {
        waiting.push(o);
        continue;
      }
      const pod = pods.byUid(o.podUid);
      const c = pod?.containers.find((x) => x.name === o.container);
      if (pod && c?.running && bareContainerId(c.containerId) === o.bareId)
        decision.emit.push({ observation: o, pod });
      else decision.merged.push(o);
    }
    this.#pending = waiting;
    return decision;
  }
}

export function kernelOomEvent(o: OomObservation, pod: PodView): WireEvent {
  return {
    id: `${o.podUid}/${o.container}/${o.bareId.slice(0, 12)}/oom-kill/${o.counterValue}`,
    pod: pod.ref,
    container: o.container,
    observedAtMs: o.observedAtMs,
    count: o.kills,
    oom: {
      source: OomSource.OOM_SOURCE_KERNEL,
      kills: o.kills,
      memoryLimitBytes: o.memoryLimitBytes,
      memoryPeakBytes: o.memoryPeakBytes,
      mainProcessSurvived: true,
    },
  };
}
