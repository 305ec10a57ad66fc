// The CPU throttling sensor: per container instance, after the scan has pushed its CPU
// counters into the window, decide which quota limited (the container's or its pod's),
// estimate demand while it throttles (ADR 0012), run the signal and send its episode steps.
// Episodes an earlier run of the agent left open (agent/spool) are continued when their
// container is seen again, or resolved after the first scan when it is gone. The scan calls
// it once per located container and on eviction.
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { PodRef } from "../../shared/proto.ts";
import type { PodView, ReportingSink } from "../types/index.ts";
import { cgroupUpperBound, type DemandEstimate, threadDemand } from "./demand.ts";
import type { Instance, ThrottleLevels } from "./instance.ts";
import { parseSingle } from "./parse.ts";
import type { PodWindows } from "./pod-window.ts";
import type { PressureWindow } from "./pressure.ts";
import type { CgroupFs } from "./reader.ts";
import { type FileReads, got } from "./reads.ts";
import type { SignalStep, ThrottleSettings } from "./signal.ts";
import { readThreads } from "./threads.ts";
import { throttleEvent } from "./throttle-event.ts";
import type { WindowStats } from "./window.ts";

/** A throttling episode an earlier run of the agent left open (agent/spool). */
export interface RememberedThrottleEpisode {
  openedAtMs: number;
  seq: number;
  limitCores: number;
  pod: PodRef;
}

export interface ThrottleSensorDeps {
  reads: FileReads;
  fs: CgroupFs;
  /** The host's /proc (thread figures for the demand estimate). */
  procRoot: string;
  /** The node's CPUs, the ceiling of every demand estimate. */
  nodeCpus: number;
  /** Pod-level windows, sampled by the scan before the pod's containers. */
  podWindows: PodWindows;
  sink: ReportingSink;
  clock: Clock;
  log: Logger;
  /** The live settings (the sampler applies changes to this object). */
  settings: ThrottleSettings;
  /** Episodes open when the earlier run stopped, by `podUid/container`. */
  resume?: ReadonlyMap<string, RememberedThrottleEpisode>;
}

export class ThrottleSensor {
  readonly #deps: ThrottleSensorDeps;
  /** Episodes the spool remembers as open, until their container is seen (or the first scan ends). */
  readonly #resume: Map<string, RememberedThrottleEpisode>;

  constructor(deps: ThrottleSensorDeps) {
    this.#deps = deps;
    this.#resume = new Map(deps.resume ?? []);
  }

  /** A new instance of a container: an episode an earlier run left open for it continues. */
  begin(inst: Instance): void {
    const episode = this.#resume.get(inst.key);
    if (!episode) return;
    inst.signal.resume(episode.openedAtMs, episode.seq, this.#deps.clock.monotonic());
    this.#resume.delete(inst.key);
    this.#deps.log.info(
      {
        pod: inst.pod.ref.name,
        namespace: inst.pod.ref.namespace,
        container: inst.container,
        openedAtMs: episode.openedAtMs,
      },
      "CPU throttling episode opened before the agent restarted continues (not counted again)",
    );
  }

  /**
   * One scan of one container, after its CPU counters went into its window (`stats` is the
   * window's, undefined on the instance's first read); `emitted` counts the events sent.
   */
  async observe(
    inst: Instance,
    stats: WindowStats | undefined,
    nowWall: number,
    scan: number,
    emitted: () => void,
  ): Promise<void> {
    let step: SignalStep | undefined;
    const levels = stats && this.#levels(inst, stats);
    if (!stats) {
      // The instance's first read: no window yet. Nothing to say — and an episode resumed from
      // the spool must not be resolved for want of data.
    } else if (!levels || (inst.limit === undefined && levels.limitedBy === "container")) {
      inst.throttle = undefined;
      inst.threads = undefined;
      step = inst.signal.close();
    } else {
      inst.throttle = levels;
      inst.demand = await this.#estimate(inst, levels, scan);
      step = inst.signal.observe(
        this.#deps.clock.monotonic(),
        nowWall,
        levels.ratio,
        inst.demand?.cores,
        this.#deps.settings,
      );
    }
    if (step) this.#emit(inst, step, inst.cpuPressure, emitted);
  }

  /** The container went away: an open episode resolves. */
  evict(inst: Instance, emitted: () => void): void {
    const step = inst.signal.close();
    if (step) this.#emit(inst, step, undefined, emitted);
  }

  /** After the first scan: remembered episodes whose container is gone are resolved. */
  resolveGone(emitted: () => void): void {
    for (const [key, episode] of this.#resume) {
      const uid = episode.pod.uid ?? "";
      const container = key.slice(uid.length + 1);
      const view: PodView = { uid, ref: episode.pod, qosClass: "Burstable", containers: [] };
      const step = {
        state: "resolved",
        openedAtMs: episode.openedAtMs,
        seq: episode.seq + 1,
        demandSamples: [],
      };
      const event = throttleEvent(
        view,
        container,
        step as SignalStep,
        undefined,
        episode.limitCores || undefined,
        undefined,
        this.#deps.clock.now(),
        { nodeCpus: this.#deps.nodeCpus },
      );
      this.#deps.log.info(
        {
          pod: episode.pod.name,
          namespace: episode.pod.namespace,
          container,
          openedAtMs: episode.openedAtMs,
        },
        "CPU throttling episode opened before the agent restarted is resolved: its container is gone",
      );
      this.#deps.sink.emit(event);
      emitted();
    }
    this.#resume.clear();
  }

  /**
   * The container's own throttled ratio, or the pod cgroup's when the pod's quota throttled
   * more and the container ran (the kubelet puts a quota on the pod cgroup too: its throttling
   * stalls every container in it, while their own cpu.stat shows nothing).
   */
  #levels(inst: Instance, stats: WindowStats): ThrottleLevels | undefined {
    const podWindow = this.#deps.podWindows.get(inst.pod.uid);
    const own = inst.limit !== undefined ? stats.ratio : 0;
    const podRatio = podWindow?.ratio ?? 0;
    const podLimitCores = podWindow?.limitCores;
    if (podRatio > own && stats.coresUsed > 0)
      return { limitedBy: "pod", ratio: podRatio, podRatio, podLimitCores };
    if (inst.limit === undefined && podLimitCores === undefined) return undefined;
    return { limitedBy: "container", ratio: own, podRatio, podLimitCores };
  }

  /**
   * Demand over the last scan interval (ADR 0012), read only while the container or its pod
   * throttles or an episode is open. Undefined when the interval cannot support a number:
   * the first interval of thread figures has no baseline.
   */
  async #estimate(inst: Instance, levels: ThrottleLevels, scan: number): Promise<DemandEstimate | undefined> {
    const { clock, fs, nodeCpus, procRoot, reads } = this.#deps;
    const step = inst.window.lastStep();
    const podStep = this.#deps.podWindows.lastStep(inst.pod.uid)?.step;
    const throttled = (step?.nrThrottled ?? 0) > 0 || (podStep?.nrThrottled ?? 0) > 0;
    if (!step || inst.files.threads === undefined || (!throttled && !inst.signal.isOpen)) {
      inst.threads = undefined;
      return undefined;
    }
    const cgroupStep = {
      usageSeconds: step.coresUsed * step.windowSeconds,
      throttledSeconds: levels.limitedBy === "pod" ? (podStep?.throttledSeconds ?? 0) : step.throttledSeconds,
      seconds: step.windowSeconds,
    };
    let read: Awaited<ReturnType<typeof readThreads>>;
    try {
      read = await readThreads(fs, procRoot, inst.files.threads, () => clock.monotonic());
    } catch {
      read = { unavailable: "proc-unreadable", listed: 0 };
    }
    if ("snapshot" in read) {
      const previous = inst.threads;
      inst.threads = { snapshot: read.snapshot, scan };
      return previous?.scan === scan - 1
        ? threadDemand(previous.snapshot, read.snapshot, cgroupStep, nodeCpus)
        : undefined;
    }
    inst.threads = undefined;
    // No thread ids visible (no host PID namespace): pids.current still counts the threads.
    const pids =
      read.listed > 0
        ? read.listed
        : (got(await reads.read(inst.files, inst.files.pids, (t) => parseSingle(t, "pids.current"), true)) ??
          0);
    return cgroupUpperBound(cgroupStep, pids, nodeCpus);
  }

  #emit(inst: Instance, step: SignalStep, pressure: PressureWindow | undefined, emitted: () => void): void {
    const { pod, container } = inst;
    const event = throttleEvent(
      pod,
      container,
      step,
      inst.window.stats(),
      inst.limit,
      pressure,
      this.#deps.clock.now(),
      { demand: inst.demand, levels: inst.throttle, nodeCpus: this.#deps.nodeCpus },
    );
    this.#deps.log.debug(
      { id: event.id, ratio: event.throttle?.throttledRatio, limitCores: inst.limit },
      `CPU throttling ${step.state}: ${pod.ref.namespace}/${pod.ref.name} container ${container}`,
    );
    this.#deps.sink.emit(event);
    emitted();
  }
}
