// Kernel OOM kills and the kubelet merge rule, decided in the scan that sees the kill.
//
// An oom_kill counter increase of a container instance is decided at once:
//  - the main process survived — the pod watch still shows this instance running and its
//    cgroup still has processes — so nobody else will report the kill: a kernel OOM event
//    (mainProcessSurvived=true), sent with the pod's identity;
//  - the main process died (the cgroup is empty, the instance stopped, restarted or its pod
//    is gone): the kubelet reports that one kill as OOMKilled through the pod watch, so it is
//    merged (counted in kernel_gossip_agent_kernel_oom_merged_total, remembered as awaiting
//    the kubelet); further kills in the same increase were children and are sent;
//  - the pod is being deleted: the kubelet's OOMKilled during a deletion is not counted
//    (see `verdict`), so every kill is sent by the kernel side.
// Each kill ends in one info line saying what became of it.
//
// The kubelet's OOMKilled is checked against the counter (`verdict`): containerd reports a
// container OOMKilled once any process in it was ever OOM-killed, so a later exit — a crash,
// a deletion — looks like a new kill. Where the counter is readable it decides; a pod being
// deleted without a kill the kernel confirmed is not an OOM.

import type { Logger } from "../../shared/log.ts";
import { boundedLru } from "../../shared/lru.ts";
import { OomSource, type WireEvent, type WirePressureWarning } from "../../shared/proto.ts";
import type { ContainerView, PodDirectory, PodView, ReportingSink } from "../types/index.ts";
import type { CgroupFiles } from "./files.ts";
import { parseOomKills } from "./files.ts";
import type { Instance } from "./instance.ts";
import { bareContainerId } from "./paths.ts";
import { type FileReads, got, VANISHED } from "./reads.ts";

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
  mainProcessSurvived: boolean;
  /** The MemoryPressure episode before the kill, if any (memory-event.ts PressureHistory). */
  warning?: WirePressureWarning;
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
      mainProcessSurvived: o.mainProcessSurvived,
      ...(o.warning && { precedingPressure: o.warning }),
    },
  };
}

/** What a kubelet OOMKilled termination is, as far as the kernel's counter can tell. */
export type OomVerdict =
  /** The kernel counted the kill (merged into this report, or counted just now). */
  | "confirmed"
  /** No counter to ask (cgroup gone before it could be read): the kubelet's word stands. */
  | "unknown"
  /** The counter is readable and did not move: not a new kill. */
  | "kernel-counter-unchanged"
  /** The pod is being deleted and the kernel confirmed no kill: the deletion stopped it. */
  | "pod-deleted";

/** Per container instance: what the counter's kills became. */
interface Counter {
  podUid: string;
  container: string;
  files: CgroupFiles;
  /** Counter value up to which every kill is decided (baseline, sent or merged). */
  accounted: number;
  /** Kills merged into a kubelet OOMKilled report that has not arrived yet. */
  awaitingKubelet: number;
}

export interface KernelOomsDeps {
  reads: FileReads;
  version: 1 | 2;
  pods: PodDirectory;
  sink: ReportingSink;
  /** kernel_gossip_agent_kernel_oom_merged_total */
  merged: { inc(): void };
  log: Logger;
  clock: { now(): number };
  /** The MemoryPressure warning before a kill of this container at `atMs`, if one was given. */
  warning?: (uid: string, container: string, atMs: number) => WirePressureWarning | undefined;
}

/** Container instances remembered for verdicts (a node runs a few hundred containers). */
const MAX_COUNTERS = 4096;

/** Watches each container's oom_kill counter and applies the merge rule above. */
export class KernelOoms {
  readonly #deps: KernelOomsDeps;
  readonly #counters = boundedLru<string, Counter>(MAX_COUNTERS);

  constructor(deps: KernelOomsDeps) {
    this.#deps = deps;
  }

  /**
   * A scan read `value` for the instance (`inst.oomKills` is the value before, undefined on
   * first sight: a baseline). An increase is decided and sent, merged or held at once.
   */
  async observe(pod: PodView, c: ContainerView, inst: Instance, value: number): Promise<number> {
    const last = inst.oomKills;
    inst.oomKills = value;
    let counter = this.#counters.get(inst.bareId);
    if (last === undefined && counter === undefined) {
      this.#counters.set(inst.bareId, this.#newCounter(pod, c, inst, value));
      return 0; // baseline (first sight)
    }
    counter ??= this.#newCounter(pod, c, inst, last ?? value);
    this.#counters.set(inst.bareId, counter);
    const from = Math.max(counter.accounted, last ?? 0);
    if (value <= from) {
      if (value < counter.accounted) counter.accounted = value; // a recreated cgroup
      return 0;
    }
    counter.accounted = value; // decided now, before any await: a verdict never counts it again
    return this.#decide(pod, c, inst.files, counter, inst.bareId, value - from, value);
  }

  /**
   * The kubelet reported container instance `containerId` terminated OOMKilled (`deleting`:
   * its pod carries a deletionTimestamp). Says whether that is a kill the kernel counted.
   */
  async verdict(containerId: string | undefined, deleting: boolean): Promise<OomVerdict> {
    const bareId = bareContainerId(containerId);
    const counter = bareId === undefined ? undefined : this.#counters.get(bareId);
    if (bareId === undefined || counter === undefined) return deleting ? "pod-deleted" : "unknown";
    if (counter.awaitingKubelet > 0) {
      counter.awaitingKubelet--;
      return "confirmed";
    }
    const read = await this.#deps.reads.read(counter.files, counter.files.oom, (t) =>
      parseOomKills(this.#deps.version, t),
    );
    const value = got(read);
    if (value === undefined) return deleting ? "pod-deleted" : "unknown";
    if (value <= counter.accounted) return deleting ? "pod-deleted" : "kernel-counter-unchanged";
    // Kills not yet seen by a scan: this report is the main process's, the rest were children.
    const kills = value - counter.accounted;
    counter.accounted = value;
    const pod = this.#deps.pods.byUid(counter.podUid);
    const c = pod?.containers.find((x) => x.name === counter.container);
    this.#deps.merged.inc();
    this.#logMerged(pod, counter, bareId, 1, value);
    if (kills > 1 && pod && c)
      await this.#send(pod, c, counter.files, bareId, kills - 1, value, false, "earlier kills of children");
    return "confirmed";
  }

  #newCounter(pod: PodView, c: ContainerView, inst: Instance, accounted: number): Counter {
    return { podUid: pod.uid, container: c.name, files: inst.files, accounted, awaitingKubelet: 0 };
  }

  async #decide(
    pod: PodView,
    c: ContainerView,
    files: CgroupFiles,
    counter: Counter,
    bareId: string,
    kills: number,
    value: number,
  ): Promise<number> {
    const now = this.#deps.pods.byUid(pod.uid);
    const current = now?.containers.find((x) => x.name === c.name);
    const sameRunning = current?.running === true && bareContainerId(current.containerId) === bareId;
    const procs = await this.#deps.reads.read(files, files.procs, countProcs, true);
    const alive = procs === VANISHED ? false : (got(procs) ?? 1) > 0; // unreadable: trust the pod watch
    const survived = sameRunning && alive;
    if (survived)
      return this.#send(now ?? pod, c, files, bareId, kills, value, true, "the main process survived");
    if (now?.deletingSinceMs !== undefined)
      return this.#send(now, c, files, bareId, kills, value, false, "the pod is being deleted");
    // The main process died: its kill is the kubelet's OOMKilled; the rest were children.
    counter.awaitingKubelet++;
    this.#deps.merged.inc();
    this.#logMerged(now ?? pod, counter, bareId, 1, value);
    if (kills > 1)
      return this.#send(
        now ?? pod,
        c,
        files,
        bareId,
        kills - 1,
        value,
        false,
        "children killed before the main process",
      );
    return 0;
  }

  async #send(
    pod: PodView,
    c: ContainerView,
    files: CgroupFiles,
    bareId: string,
    kills: number,
    counterValue: number,
    mainProcessSurvived: boolean,
    why: string,
  ): Promise<number> {
    const mem = await this.#deps.reads.memory(files, this.#deps.version);
    const now = this.#deps.clock.now();
    const observation: OomObservation = {
      podUid: pod.uid,
      container: c.name,
      bareId,
      kills,
      counterValue,
      memoryLimitBytes: mem.limit || c.memoryLimitBytes || 0,
      memoryPeakBytes: mem.peak,
      observedAtMs: now,
      mainProcessSurvived,
      warning: this.#deps.warning?.(pod.uid, c.name, now),
    };
    const event = kernelOomEvent(observation, pod);
    const outcome = this.#deps.sink.emit(event);
    const where = `${pod.ref.namespace}/${pod.ref.name} container ${c.name}`;
    const fields = {
      id: event.id,
      namespace: pod.ref.namespace,
      pod: pod.ref.name,
      container: c.name,
      kills,
      counterValue,
    };
    if (outcome && !outcome.passed) {
      this.#deps.log.info(
        { ...fields, outcome: "held", held: outcome.held },
        `kernel OOM kill (${kills}) in ${where} held back by the dedup cooldown (${why}): ${outcome.held} occurrences of this OOMKilled wait and leave together by the end of the cooldown window`,
      );
    } else {
      const count = outcome?.count ?? kills;
      this.#deps.log.info(
        { ...fields, outcome: "sent", count },
        `kernel OOM kill (${kills}) in ${where} sent (${why}; oom_kill now ${counterValue}${count > kills ? `, carrying ${count} occurrences` : ""})`,
      );
    }
    return 1;
  }

  #logMerged(pod: PodView | undefined, counter: Counter, bareId: string, kills: number, value: number): void {
    this.#deps.log.info(
      {
        namespace: pod?.ref.namespace,
        pod: pod?.ref.name,
        podUid: counter.podUid,
        container: counter.container,
        containerId: bareId.slice(0, 12),
        kills,
        counterValue: value,
        outcome: "merged",
      },
      `kernel OOM kill in ${pod?.ref.namespace ?? "?"}/${pod?.ref.name ?? counter.podUid} container ${counter.container} merged into the kubelet's OOMKilled: the main process died (oom_kill now ${value})`,
    );
  }
}

/** cgroup.procs: one pid per line. */
function countProcs(text: string): number {
  let n = 0;
  for (const line of text.split("\n")) if (line.trim() !== "") n++;
  return n;
}
