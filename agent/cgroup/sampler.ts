// The cgroup sampler: every scan interval, one scan of the node's containers (scan.ts) that
// turns what the cgroup files say into throttle, MemoryPressure and kernel-OOM events and
// per-container metrics. It wires the scan to its sensors, applies live settings and answers
// the pod side's questions (a kubelet OOMKilled's kernel verdict, the pressure before it,
// a pod's kernel figures for its birth certificate).
//
// Invariants: scans never overlap (the next is scheduled when one ends); the first sight of
// an OOM counter is a baseline, never an event, so an agent restart re-reports nothing —
// unless the node's spool remembers the counter value last reported for that instance
// (`recall`), which is then the baseline, so kills made while the agent was down are
// reported too; the first scan waits until the pod directory has listed (`ready`), so no
// running container is mistaken for one started since the previous scan; a throttling
// episode the spool remembers as open is continued, or resolved when its container is gone;
// ENOENT because a container vanished is silent.

import { cpus } from "node:os";
import type { Clock, Timer } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { WirePressureWarning } from "../../shared/proto.ts";
import type { KernelStats, KernelStatsSource, PodDirectory, PodView, ReportingSink } from "../types/index.ts";
import type { CgroupLayout } from "./layout.ts";
import { CgroupLocator } from "./locator.ts";
import { PressureHistory } from "./memory-event.ts";
import { MemorySensor, type RememberedMemoryEpisode } from "./memory-sensor.ts";
import { DEFAULT_MEMORY_SETTINGS, type MemorySettings, validMemorySettings } from "./memory-signal.ts";
import type { CgroupMetrics } from "./metrics.ts";
import { KernelOoms, type OomVerdict } from "./oom.ts";
import { PodWindows } from "./pod-window.ts";
import { type CgroupFs, nodeCgroupFs } from "./reader.ts";
import { FileReads } from "./reads.ts";
import { Scanner, type ScanReport } from "./scan.ts";
import { type ThrottleSettings, validSettings } from "./signal.ts";
import { podStats } from "./stats.ts";
import { type RememberedThrottleEpisode, ThrottleSensor } from "./throttle-sensor.ts";

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
  openEpisodes(): ReadonlyMap<string, RememberedThrottleEpisode>;
  /** MemoryPressure episodes open when the earlier run stopped, by `podUid/container`. */
  openMemoryEpisodes?(): ReadonlyMap<string, RememberedMemoryEpisode>;
}

/** How often a sampler waiting for the pod directory's first list checks again. */
const READY_POLL_MS = 200;

export class CgroupSampler implements KernelStatsSource {
  readonly #deps: CgroupSamplerDeps;
  readonly #settings: ThrottleSettings;
  readonly #locator: CgroupLocator;
  readonly #reads: FileReads;
  readonly #ooms: KernelOoms;
  readonly #memorySettings: MemorySettings;
  readonly #memory: MemorySensor;
  /** MemoryPressure episodes per container, for the OOM kills that follow them. */
  readonly #pressureHistory = new PressureHistory();
  readonly #scanner: Scanner;
  readonly #log: Logger;
  #timer?: Timer;
  #running = false;
  #inFlight?: Promise<void>;
  #stopped = true;

  constructor(deps: CgroupSamplerDeps) {
    this.#deps = deps;
    this.#settings = { ...deps.settings };
    this.#log = deps.log.child({ component: "cgroup" });
    const fs = deps.fs ?? nodeCgroupFs;
    const nodeCpus = Math.max(1, deps.nodeCpus ?? cpus().length);
    this.#locator = new CgroupLocator(deps.layout, fs);
    this.#reads = new FileReads(fs, deps.metrics, this.#log);
    const podWindows = new PodWindows(deps.layout, this.#reads);
    this.#memorySettings = { ...DEFAULT_MEMORY_SETTINGS, ...deps.memory };
    this.#memory = new MemorySensor({
      reads: this.#reads,
      version: deps.layout.version,
      sink: deps.sink,
      history: this.#pressureHistory,
      settings: this.#memorySettings,
      log: this.#log,
      resume: deps.recall?.openMemoryEpisodes?.(),
    });
    const throttle = new ThrottleSensor({
      reads: this.#reads,
      fs,
      procRoot: deps.procRoot ?? "/proc",
      nodeCpus,
      podWindows,
      sink: deps.sink,
      clock: deps.clock,
      log: this.#log,
      settings: this.#settings,
      resume: deps.recall?.openEpisodes(),
    });
    this.#ooms = new KernelOoms({
      reads: this.#reads,
      version: deps.layout.version,
      pods: deps.pods,
      sink: deps.sink,
      merged: deps.metrics.kernelOomMerged,
      log: this.#log,
      clock: deps.clock,
      warning: (uid, container, atMs) => this.pressureBefore(uid, container, atMs),
    });
    const recall = deps.recall;
    this.#scanner = new Scanner({
      layout: deps.layout,
      pods: deps.pods,
      clock: deps.clock,
      log: this.#log,
      metrics: deps.metrics,
      settings: this.#settings,
      locator: this.#locator,
      reads: this.#reads,
      podWindows,
      ooms: this.#ooms,
      memory: this.#memory,
      throttle,
      oomBaseline: recall && ((uid, container, bareId) => recall.oomBaseline(uid, container, bareId)),
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
    this.#scanner.resize(this.#settings.windowMs);
    if (intervalChanged && !this.#stopped && !this.#running && this.#timer) {
      this.#deps.clock.clearTimeout(this.#timer);
      this.#schedule(this.#settings.scanIntervalMs);
    }
  }

  /** The MemoryPressure episode before a kill of this container at `atMs` (a kubelet OOMKilled). */
  pressureBefore(uid: string, container: string, atMs: number): WirePressureWarning | undefined {
    return this.#pressureHistory.before(uid, container, atMs, this.#memorySettings.linkLookbackMs);
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
    return podStats(pod, this.#deps.layout, this.#locator, this.#reads, this.#scanner.latest);
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

  /** One scan now (tests, benchmarks); it throws while another scan runs (scans never overlap). */
  async scanOnce(): Promise<ScanReport> {
    if (this.#running) throw new Error("cgroup scan already running (scans never overlap)");
    this.#running = true;
    let finished = (): void => {};
    this.#inFlight = new Promise((resolve) => {
      finished = resolve;
    });
    let report: ScanReport;
    try {
      report = await this.#scanner.scan();
    } finally {
      this.#running = false;
      this.#inFlight = undefined;
      finished();
    }
    this.#log.debug(report, "cgroup scan done");
    return report;
  }
}
