// Kernel OOM kills and the kubelet merge rule.
//
// An oom_kill counter increase is held for one scan (the grace), then the pod is looked
// up again: if the same container instance is still running, its main process survived
// and nobody else will report the kill → a kernel OOM event (mainProcessSurvived=true).
// If the instance stopped, restarted (new id) or the pod is gone, the kubelet reports the
// OOMKilled itself (the pod watch turns it into a PodFailure): one event, not two, so the
// kernel side only counts it as merged.

import type { Logger } from "../../shared/log.ts";
import { OomSource, type WireEvent } from "../../shared/proto.ts";
import type { ContainerView, EventSink, PodDirectory, PodView } from "../types/index.ts";
import type { Instance } from "./instance.ts";
import { bareContainerId } from "./paths.ts";
import type { FileReads } from "./reads.ts";

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

export interface KernelOomsDeps {
  reads: FileReads;
  version: 1 | 2;
  pods: PodDirectory;
  sink: EventSink;
  /** kernel_gossip_agent_kernel_oom_merged_total */
  merged: { inc(): void };
  log: Logger;
}

/** Watches each container's oom_kill counter and applies the merge rule above. */
export class KernelOoms {
  readonly #deps: KernelOomsDeps;
  readonly #merger = new OomMerger();

  constructor(deps: KernelOomsDeps) {
    this.#deps = deps;
  }

  /** A scan read `value` for the instance; an increase over the last value is held for the grace. */
  async observe(
    pod: PodView,
    c: ContainerView,
    inst: Instance,
    value: number,
    now: number,
    scan: number,
  ): Promise<void> {
    const last = inst.oomKills;
    inst.oomKills = value;
    if (last === undefined || value <= last) return; // baseline (first sight) or a recreated cgroup
    const o = {
      podUid: pod.uid,
      container: c.name,
      bareId: inst.bareId,
      kills: value - last,
      counterValue: value,
    };
    this.#deps.log.info(
      { pod: pod.ref.name, namespace: pod.ref.namespace, ...o },
      "kernel OOM kill counted in the container's memory cgroup; checking in one scan whether the main process survived",
    );
    const mem = await this.#deps.reads.memory(inst.files, this.#deps.version);
    this.#merger.add({
      ...o,
      memoryLimitBytes: mem.limit || c.memoryLimitBytes || 0,
      memoryPeakBytes: mem.peak,
      observedAtMs: now,
      scan,
    });
  }

  /** At the start of a scan: sends or merges what earlier scans saw. Returns the events sent. */
  decide(scan: number): number {
    const { emit, merged } = this.#merger.decide(scan, this.#deps.pods);
    for (const { observation, pod } of emit) this.#deps.sink.emit(kernelOomEvent(observation, pod));
    for (const o of merged) {
      this.#deps.merged.inc();
      this.#deps.log.debug(
        o,
        "kernel OOM kill merged: the container's main process died, the kubelet reports it",
      );
    }
    return emit.length;
  }
}
