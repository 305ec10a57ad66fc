// The cgroup sampler: every scan interval, for each running container of the node's pods,
// read its CPU counters, limit and OOM counter, keep a sliding window, and turn what it
// sees into throttle and kernel-OOM events and per-container metrics.
//
// Invariants: scans never overlap (the next is scheduled when one ends); a container is
// keyed by pod uid + name and its state belongs to one instance (container id) — a new id
// starts fresh; the first sight of an OOM counter is a baseline, never an event, so an
// agent restart re-reports nothing — unless the node's spool remembers the counter value last
// reported for that instance (`recall`), which is then the baseline, so kills made while the
// agent was down are reported too; the first scan waits until the pod directory has listed
// (`ready`), so no running container is mistaken for one started since the previous scan;
// a throttling episode the spool remembers as open is continued, or resolved when its
// container is gone; ENOENT because a container vanished is silent.

import { cpus } from "node:os";
import type { Clock, Timer } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { PodRef, WirePressureWarning } from "../../shared/proto.ts";
import type {
  ContainerView,
  KernelStats,
  KernelStatsSource,
  PodDirectory,
  PodView,
  ReportingSink,
} from "../types/index.ts";
import { cgroupUpperBound, type DemandEstimate, threadDemand } from "./demand.ts";
import { cgroupFiles } from "./files.ts";
import { type Instance, newInstance, readInstance, type ThrottleLevels } from "./instance.ts";
import type { CgroupLayout } from "./layout.ts";
import { CgroupLocator } from "./locator.ts";
import { PressureHistory } from "./memory-event.ts";
import { MemorySensor, type RememberedMemoryEpisode } from "./memory-sensor.ts";
import { DEFAULT_MEMORY_SETTINGS, type MemorySettings, validMemorySettings } from "./memory-signal.ts";
import type { CgroupMetrics } from "./metrics.ts";
import { KernelOoms, type OomVerdict } from "./oom.ts";
import { parseSingle } from "./parse.ts";
import { bareContainerId } from "./paths.ts";
import { PodWindows } from "./pod-window.ts";
import type { PressureWindow } from "./pressure.ts";
import { type CgroupFs, nodeCgroupFs } from "./reader.ts";
import { FileReads, got, VANISHED } from "./reads.ts";
import { type SignalStep, type ThrottleSettings, validSettings } from "./signal.ts";
import { podStats } from "./stats.ts";
import { readThreads } from "./threads.ts";
import { throttleEvent } from "./throttle-event.ts";
import type { WindowStats } from "./window.ts";

export interface CgroupSamplerDeps {
  root: string;
  layout: CgroupLayout;
  pods: PodDirectory;
  /** Dedup in the agent: it says whether a kernel OOM left or was held (the outcome line). */
  sink: ReportingSink;
  clock: Clock;
  log: Logger;
  metrics: CgroupMetrics;
  settings: ThrottleSettings;
  /** MemoryPressure thresholds; the defaults where not given. */
  memory?: Partial<MemorySettings>;
  /** File access; the real file system unless a test injects failures. */
  fs?: CgroupFs;
  /** The host's /proc (thread figures for the demand estimate); default "/proc". */
  procRoot?: string;
  /** The node's CPUs, the ceiling of every demand estimate; default os.cpus().length. */
  nodeCpus?: number;
  /** False until the pod directory has listed the node's pods: scans wait for it. */
  ready?: () => boolean;
  /** What an earlier run of this agent reported (agent/spool). */
  recall?: SamplerRecall;
}

export interface SamplerRecall {
  /** Highest oom_kill counter value already reported for this container instance. */
  oomBaseline(podUid: string, container: string, bareId: string): number | undefined;
  /** Throttling episodes open when the earlier run stopped, by `podUid/container`. */
  openEpisodes(): ReadonlyMap<string, { openedAtMs: number; seq: number; limitCores: number; pod: PodRef }>;
  /** MemoryPressure episodes open when the earlier run stopped, by `podUid/container`. */
  openMemoryEpisodes?(): ReadonlyMap<string, RememberedMemoryEpisode>;
}

/** How often a sampler waiting for the pod directory's first list checks again. */
const READY_POLL_MS = 200;

export interface ScanReport {
  scan: number;
  pods: number;
  /** Containers located this scan (their figures read fully, or in part when a file failed). */
  containers: number;
  /** Running containers whose cgroup was not found. */
  unlocated: number;
  /** Containers whose cgroup vanished during the scan (not errors). */
  vanished: number;
  readErrors: number;
  events: number;
}

export class CgroupSampler implements KernelStatsSource {
  readonly #deps: CgroupSamplerDeps;
  readonly #settings: ThrottleSettings;
  readonly #locator: CgroupLocator;
  readonly #reads: FileReads;
  readonly #ooms: KernelOoms;
  readonly #podWindows: PodWindows;
  readonly #memorySettings: MemorySettings;
  readonly #memory: MemorySensor;
  /** MemoryPressure episodes per container, for the OOM kills that follow them. */
  readonly pressureHistory = new PressureHistory();
  readonly #instances = new Map<string, Instance>();
  readonly #log: Logger;
  readonly #fs: CgroupFs;
  readonly #procRoot: string;
  readonly #nodeCpus: number;
  #scan = 0;
  /** Container ids the pod directory showed running in the previous scan. */
  #previousIds = new Set<string>();
  #currentIds = new Set<string>();
  #timer?: Timer;
  #running = false;
  #inFlight?: Promise<void>;
  #stopped = true;
  /** Episodes the spool remembers as open, until their container is seen (or the first scan ends). */
  #resume: Map<string, { openedAtMs: number; seq: number; limitCores: number; pod: PodRef }>;

  constructor(deps: CgroupSamplerDeps) {
    this.#deps = deps;
    this.#settings = { ...deps.settings };
    this.#log = deps.log.child({ component: "cgroup" });
    const fs = deps.fs ?? nodeCgroupFs;
    this.#fs = fs;
    this.#procRoot = deps.procRoot ?? "/proc";
    this.#nodeCpus = Math.max(1, deps.nodeCpus ?? cpus().length);
    this.#locator = new CgroupLocator(deps.layout, fs);
    this.#reads = new FileReads(fs, deps.metrics, this.#log);
    this.#podWindows = new PodWindows(deps.layout, this.#reads);
    this.#memorySettings = { ...DEFAULT_MEMORY_SETTINGS, ...deps.memory };
    this.#memory = new MemorySensor({
      reads: this.#reads,
      version: deps.layout.version,
      sink: deps.sink,
      history: this.pressureHistory,
      settings: this.#memorySettings,
      log: this.#log,
      resume: deps.recall?.openMemoryEpisodes?.(),
    });
    this.#resume = new Map(deps.recall?.openEpisodes() ?? []);
    this.#ooms = new KernelOoms({
      reads: this.#reads,
      version: deps.layout.version,
      pods: deps.pods,
      sink: deps.sink,
      merged: deps.metrics.kernelOomMerged,
      log: this.#log,
      clock: deps.clock,
      warning: (uid, container, atMs) =>
        this.pressureHistory.before(uid, container, atMs, this.#memorySettings.linkLookbackMs),
    });
    const { version, driver } = deps.layout;
    deps.metrics.layoutInfo.set({ version: `v${version}`, driver }, 1);
  }

  /** The kernel's word on a kubelet OOMKilled report (agent/cgroup/oom.ts). */
  oomVerdict(containerId: string | undefined, deleting: boolean): Promise<OomVerdict> {
    return this.#ooms.verdict(containerId, deleting);
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops scanning; resolves once a scan in progress has finished (its events emitted). */
  stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) this.#deps.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    return this.#inFlight ?? Promise.resolve();
  }

  /** Applies live settings; an invalid value (e.g. a 0 or NaN from a remote config) is logged and ignored. */
  configure(settings: Partial<ThrottleSettings>): void {
    const valid = validSettings(settings, (field, value, rule) =>
      this.#log.warn(
        { field, value },
        `ignoring throttle setting ${field}=${value}: it must be ${rule}; the previous value stays in effect`,
      ),
    );
    const intervalChanged =
      valid.scanIntervalMs !== undefined && valid.scanIntervalMs !== this.#settings.scanIntervalMs;
    Object.assign(this.#settings, valid);
    for (const inst of this.#instances.values()) inst.window.windowMs = this.#settings.windowMs;
    if (intervalChanged && !this.#stopped && !this.#running && this.#timer) {
      this.#deps.clock.clearTimeout(this.#timer);
      this.#schedule(this.#settings.scanIntervalMs);
    }
  }

  /** The MemoryPressure episode before a kill of this container at `atMs` (a kubelet OOMKilled). */
  pressureBefore(uid: string, container: string, atMs: number): WirePressureWarning | undefined {
    return this.pressureHistory.before(uid, container, atMs, this.#memorySettings.linkLookbackMs);
  }

  /** Applies live MemoryPressure settings; an invalid value is logged and ignored. */
  configureMemory(settings: Partial<MemorySettings>): void {
    const valid = validMemorySettings(settings, (field, value, rule) =>
      this.#log.warn(
        { field, value },
        `ignoring memory pressure setting ${field}=${value}: it must be ${rule}; the previous value stays in effect`,
      ),
    );
    Object.assign(this.#memorySettings, valid);
    if (valid.windowMs !== undefined) this.#memory.resize(valid.windowMs);
  }

  podStats(pod: PodView): Promise<KernelStats | undefined> {
    return podStats(pod, this.#deps.layout, this.#locator, this.#reads, this.#scan);
  }

  #schedule(ms: number): void {
    const timer = this.#deps.clock.setTimeout(() => void this.#tick(), ms);
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped) return;
    if (this.#running) {
      // A manual scanOnce() is in progress (tests, birth stats): try again next interval.
      this.#schedule(this.#settings.scanIntervalMs);
      return;
    }
    if (this.#deps.ready && !this.#deps.ready()) {
      this.#schedule(Math.min(READY_POLL_MS, this.#settings.scanIntervalMs));
      return;
    }
    try {
      await this.scanOnce();
    } catch (err) {
      this.#log.error({ err }, "cgroup scan failed; the next scan runs as scheduled");
    }
    if (!this.#stopped) this.#schedule(this.#settings.scanIntervalMs);
  }

  async scanOnce(): Promise<ScanReport> {
    if (this.#running) throw new Error("cgroup scan already running (scans never overlap)");
    this.#running = true;
    let finished = (): void => {};
    this.#inFlight = new Promise((resolve) => {
      finished = resolve;
    });
    const started = this.#deps.clock.monotonic();
    const scan = ++this.#scan;
    const report: ScanReport = {
      scan,
      pods: 0,
      containers: 0,
      unlocated: 0,
      vanished: 0,
      readErrors: 0,
      events: 0,
    };
    const errorsBefore = this.#reads.errors;
    try {
      const seen = new Set<string>();
      const live = new Set<string>();
      this.#currentIds = new Set();
      // A snapshot: the pod watch may change the directory while this scan awaits reads.
      for (const pod of [...this.#deps.pods.pods()]) {
        report.pods++;
        live.add(pod.uid);
        // The pod level first: its last interval tells whether the pod's quota limited (ADR 0012).
        const podDir = this.#locator.cached(pod.uid)?.dir;
        if (podDir !== undefined) {
          await this.#podWindows.sample(
            pod,
            podDir,
            scan,
            this.#deps.clock.monotonic(),
            this.#settings.windowMs,
          );
        }
        for (const c of pod.containers) {
          const bareId = bareContainerId(c.containerId);
          if (!c.running || bareId === undefined) continue;
          const key = `${pod.uid}/${c.name}`;
          seen.add(key);
          this.#currentIds.add(bareId);
          const outcome = await this.#sample(pod, c, key, bareId, scan, report);
          if (outcome === "read" || outcome === "failed") report.containers++;
          else if (outcome === "unlocated") report.unlocated++;
          else if (outcome === "vanished") report.vanished++;
        }
        // First sight of the pod: its directory is known only once a container was located.
        const located = podDir === undefined ? this.#locator.cached(pod.uid)?.dir : undefined;
        if (located !== undefined) {
          await this.#podWindows.sample(
            pod,
            located,
            scan,
            this.#deps.clock.monotonic(),
            this.#settings.windowMs,
          );
        }
      }
      this.#podWindows.retain(live);
      if (this.#resume.size > 0) this.#resolveGone(report);
      this.#memory.resolveGone(this.#deps.clock.now(), () => report.events++);
      for (const [key, inst] of this.#instances) if (!seen.has(key)) this.#evict(inst, report);
      for (const uid of [...this.#locator.cachedPods()]) if (!live.has(uid)) this.#locator.forgetPod(uid);
      this.#locator.forgetMissing((uid) => live.has(uid));
      this.#deps.metrics.containers.set(this.#instances.size);
      this.#previousIds = this.#currentIds;
    } finally {
      this.#running = false;
      this.#inFlight = undefined;
      finished();
      report.readErrors = this.#reads.errors - errorsBefore;
      this.#deps.metrics.scanDuration.observe((this.#deps.clock.monotonic() - started) / 1000);
    }
    this.#log.debug(report, "cgroup scan done");
    return report;
  }

  async #sample(
    pod: PodView,
    c: ContainerView,
    key: string,
    bareId: string,
    scan: number,
    report: ScanReport,
  ): Promise<"read" | "unlocated" | "vanished" | "failed"> {
    let inst = this.#instances.get(key);
    if (inst && inst.bareId !== bareId) {
      this.#evict(inst, report);
      inst = undefined;
    }
    if (!inst) {
      const rel = await this.#reads.locate(this.#locator, pod, bareId, scan);
      if (rel === undefined) return "unlocated";
      inst = newInstance(pod, c.name, bareId, cgroupFiles(this.#deps.layout, rel), this.#settings.windowMs);
      // A container that started since the previous scan has a fresh cgroup whose counter began
      // at 0: a kill in its first seconds is a kill. Anything seen before (or at agent start-up)
      // gets its current value as the baseline, so old kills are never re-reported — or the
      // value an earlier run of the agent last reported, so kills while it was down are not lost.
      const reported = this.#deps.recall?.oomBaseline(pod.uid, c.name, bareId);
      if (reported !== undefined) inst.oomKills = reported;
      else if (scan > 1 && !this.#previousIds.has(bareId)) inst.oomKills = 0;
      const episode = this.#resume.get(key);
      if (episode) {
        inst.signal.resume(episode.openedAtMs, episode.seq, this.#deps.clock.monotonic());
        this.#resume.delete(key);
        this.#log.info(
          {
            pod: pod.ref.name,
            namespace: pod.ref.namespace,
            container: c.name,
            openedAtMs: episode.openedAtMs,
          },
          "CPU throttling episode opened before the agent restarted continues (not counted again)",
        );
      }
      this.#instances.set(key, inst);
    }
    inst.pod = pod;
    const r = await readInstance(this.#reads, this.#deps.layout.version, inst, scan);
    if (r === VANISHED) {
      this.#evict(inst, report);
      this.#locator.forgetPod(pod.uid);
      return "vanished";
    }
    const now = this.#deps.clock.now();
    if (r.oomKills !== undefined) report.events += await this.#ooms.observe(pod, c, inst, r.oomKills);
    const mono = this.#deps.clock.monotonic();
    const mem = await this.#memory.sample(
      key,
      pod,
      c.name,
      bareId,
      inst.files,
      r.memoryEvents,
      mono,
      now,
      () => report.events++,
    );
    if (mem === VANISHED) {
      this.#evict(inst, report);
      this.#locator.forgetPod(pod.uid);
      return "vanished";
    }
    inst.cpuPressure.push(mono, r.pressure);
    const { cpu, usageSeconds } = r;
    if (cpu === undefined || usageSeconds === undefined) return "failed";
    inst.window.push({ atMs: this.#deps.clock.monotonic(), ...cpu, usageSeconds });
    const stats = inst.window.stats();
    this.#deps.metrics.series.set(key, {
      labels: { namespace: pod.ref.namespace ?? "", pod: pod.ref.name ?? "", container: c.name },
      throttledRatio: inst.limit !== undefined ? stats?.ratio : undefined,
      throttledSeconds: cpu.throttledSeconds,
      periods: cpu.periods,
      throttledPeriods: cpu.throttled,
      usageSeconds,
      limitCores: inst.limit,
      oomKills: inst.oomKills,
      memoryWorkingSetBytes: mem?.workingSetBytes,
      memoryLimitBytes: mem && mem.limitBytes > 0 ? mem.limitBytes : undefined,
      memoryLimitHits: mem?.limitHits,
      memoryPressureSomeSeconds: mem?.pressure ? mem.pressure.someTotalUs / 1e6 : undefined,
    });
    let step: SignalStep | undefined;
    const levels = stats && this.#levels(inst, stats, pod.uid);
    if (!stats) {
      // The instance's first read: no window yet. Nothing to say — and an episode resumed from
      // the spool must not be resolved for want of data.
    } else if (!levels || (inst.limit === undefined && levels.limitedBy === "container")) {
      inst.throttle = undefined;
      inst.threads = undefined;
      step = inst.signal.close();
    } else {
      inst.throttle = levels;
      inst.demand = await this.#estimate(inst, levels, pod.uid, scan);
      step = inst.signal.observe(
        this.#deps.clock.monotonic(),
        now,
        levels.ratio,
        inst.demand?.cores,
        this.#settings,
      );
    }
    if (step) this.#emitThrottle(pod, c.name, inst, step, inst.cpuPressure, report);
    return "read";
  }

  /**
   * The container's own throttled ratio, or the pod cgroup's when the pod's quota throttled
   * more and the container ran (the kubelet puts a quota on the pod cgroup too: its throttling
   * stalls every container in it, while their own cpu.stat shows nothing).
   */
  #levels(inst: Instance, stats: WindowStats, uid: string): ThrottleLevels | undefined {
    const podWindow = this.#podWindows.get(uid);
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
  async #estimate(
    inst: Instance,
    levels: ThrottleLevels,
    uid: string,
    scan: number,
  ): Promise<DemandEstimate | undefined> {
    const step = inst.window.lastStep();
    const podStep = this.#podWindows.lastStep(uid)?.step;
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
      read = await readThreads(this.#fs, this.#procRoot, inst.files.threads, () =>
        this.#deps.clock.monotonic(),
      );
    } catch {
      read = { unavailable: "proc-unreadable", listed: 0 };
    }
    if ("snapshot" in read) {
      const previous = inst.threads;
      inst.threads = { snapshot: read.snapshot, scan };
      return previous?.scan === scan - 1
        ? threadDemand(previous.snapshot, read.snapshot, cgroupStep, this.#nodeCpus)
        : undefined;
    }
    inst.threads = undefined;
    // No thread ids visible (no host PID namespace): pids.current still counts the threads.
    const pids =
      read.listed > 0
        ? read.listed
        : (got(
            await this.#reads.read(inst.files, inst.files.pids, (t) => parseSingle(t, "pids.current"), true),
          ) ?? 0);
    return cgroupUpperBound(cgroupStep, pids, this.#nodeCpus);
  }

  #emitThrottle(
    pod: PodView,
    container: string,
    inst: Instance,
    step: SignalStep,
    pressure: PressureWindow | undefined,
    report: ScanReport,
  ): void {
    const event = throttleEvent(
      pod,
      container,
      step,
      inst.window.stats(),
      inst.limit,
      pressure,
      this.#deps.clock.now(),
      { demand: inst.demand, levels: inst.throttle, nodeCpus: this.#nodeCpus },
    );
    this.#log.debug(
      { id: event.id, ratio: event.throttle?.throttledRatio, limitCores: inst.limit },
      `CPU throttling ${step.state}: ${pod.ref.namespace}/${pod.ref.name} container ${container}`,
    );
    this.#deps.sink.emit(event);
    report.events++;
  }

  /** After the first scan: remembered episodes whose container is gone are resolved. */
  #resolveGone(report: ScanReport): void {
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
        { nodeCpus: this.#nodeCpus },
      );
      this.#log.info(
        {
          pod: episode.pod.name,
          namespace: episode.pod.namespace,
          container,
          openedAtMs: episode.openedAtMs,
        },
        "CPU throttling episode opened before the agent restarted is resolved: its container is gone",
      );
      this.#deps.sink.emit(event);
      report.events++;
    }
    this.#resume.clear();
  }

  #evict(inst: Instance, report: ScanReport): void {
    this.#instances.delete(inst.key);
    this.#deps.metrics.series.delete(inst.key);
    this.#reads.forget(inst.files);
    const step = inst.signal.close();
    if (step) this.#emitThrottle(inst.pod, inst.container, inst, step, undefined, report);
    this.#memory.evict(inst.key, inst.pod, inst.container, this.#deps.clock.now(), () => report.events++);
  }
}
