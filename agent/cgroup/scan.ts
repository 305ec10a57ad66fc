// One scan of the node's cgroups: for each running container of the pods in the directory,
// locate its cgroup, read its files, keep its CPU window and per-container metrics, and hand
// the figures to the sensors (kernel OOM, MemoryPressure, CPU throttling); then forget the
// containers and pods that are gone. The sampler (sampler.ts) decides when a scan runs.
//
// A container is keyed by pod uid + name and its state belongs to one instance (container
// id) — a new id starts fresh; the first sight of an OOM counter is a baseline, never an
// event, unless the node's spool remembers the value last reported for that instance.
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { ContainerView, PodDirectory, PodView } from "../types/index.ts";
import { cgroupFiles } from "./files.ts";
import { type Instance, newInstance, readInstance } from "./instance.ts";
import type { CgroupLayout } from "./layout.ts";
import type { CgroupLocator } from "./locator.ts";
import type { MemorySensor } from "./memory-sensor.ts";
import type { CgroupMetrics } from "./metrics.ts";
import type { KernelOoms } from "./oom.ts";
import { bareContainerId } from "./paths.ts";
import type { PodWindows } from "./pod-window.ts";
import { type FileReads, VANISHED } from "./reads.ts";
import type { ThrottleSettings } from "./signal.ts";
import type { ThrottleSensor } from "./throttle-sensor.ts";

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

export interface ScannerDeps {
  layout: CgroupLayout;
  pods: PodDirectory;
  clock: Clock;
  log: Logger;
  metrics: CgroupMetrics;
  /** The live settings (the sampler applies changes to this object). */
  settings: ThrottleSettings;
  locator: CgroupLocator;
  reads: FileReads;
  podWindows: PodWindows;
  ooms: KernelOoms;
  memory: MemorySensor;
  throttle: ThrottleSensor;
  /** Highest oom_kill counter value an earlier run already reported for this instance (agent/spool). */
  oomBaseline?: (podUid: string, container: string, bareId: string) => number | undefined;
}

type Outcome = "read" | "unlocated" | "vanished" | "failed";

export class Scanner {
  readonly #deps: ScannerDeps;
  readonly #instances = new Map<string, Instance>();
  #scan = 0;
  /** Container ids the pod directory showed running in the previous scan. */
  #previousIds = new Set<string>();
  #currentIds = new Set<string>();

  constructor(deps: ScannerDeps) {
    this.#deps = deps;
  }

  /** The number of the latest scan (0 before the first). */
  get latest(): number {
    return this.#scan;
  }

  /** Applies a window change to every container. */
  resize(windowMs: number): void {
    for (const inst of this.#instances.values()) inst.window.windowMs = windowMs;
  }

  async scan(): Promise<ScanReport> {
    const { clock, locator, memory, metrics, podWindows, reads, settings, throttle } = this.#deps;
    const started = clock.monotonic();
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
    const emitted = () => report.events++;
    const errorsBefore = reads.errors;
    try {
      const seen = new Set<string>();
      const live = new Set<string>();
      this.#currentIds = new Set();
      // A snapshot: the pod watch may change the directory while this scan awaits reads.
      for (const pod of [...this.#deps.pods.pods()]) {
        report.pods++;
        live.add(pod.uid);
        // The pod level first: its last interval tells whether the pod's quota limited (ADR 0012).
        const podDir = locator.cached(pod.uid)?.dir;
        if (podDir !== undefined) {
          await podWindows.sample(pod, podDir, scan, clock.monotonic(), settings.windowMs);
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
        const located = podDir === undefined ? locator.cached(pod.uid)?.dir : undefined;
        if (located !== undefined) {
          await podWindows.sample(pod, located, scan, clock.monotonic(), settings.windowMs);
        }
      }
      podWindows.retain(live);
      throttle.resolveGone(emitted);
      memory.resolveGone(clock.now(), emitted);
      for (const [key, inst] of this.#instances) if (!seen.has(key)) this.#evict(inst, emitted);
      for (const uid of [...locator.cachedPods()]) if (!live.has(uid)) locator.forgetPod(uid);
      locator.forgetMissing((uid) => live.has(uid));
      metrics.containers.set(this.#instances.size);
      this.#previousIds = this.#currentIds;
    } finally {
      report.readErrors = reads.errors - errorsBefore;
      metrics.scanDuration.observe((clock.monotonic() - started) / 1000);
    }
    return report;
  }

  async #sample(
    pod: PodView,
    c: ContainerView,
    key: string,
    bareId: string,
    scan: number,
    report: ScanReport,
  ): Promise<Outcome> {
    const { clock, layout, locator, memory, metrics, reads, settings, throttle } = this.#deps;
    const emitted = () => report.events++;
    let inst = this.#instances.get(key);
    if (inst && inst.bareId !== bareId) {
      this.#evict(inst, emitted);
      inst = undefined;
    }
    if (!inst) {
      const rel = await reads.locate(locator, pod, bareId, scan);
      if (rel === undefined) return "unlocated";
      inst = newInstance(pod, c.name, bareId, cgroupFiles(layout, rel), settings.windowMs);
      // A container that started since the previous scan has a fresh cgroup whose counter began
      // at 0: a kill in its first seconds is a kill. Anything seen before (or at agent start-up)
      // gets its current value as the baseline, so old kills are never re-reported — or the
      // value an earlier run of the agent last reported, so kills while it was down are not lost.
      const reported = this.#deps.oomBaseline?.(pod.uid, c.name, bareId);
      if (reported !== undefined) inst.oomKills = reported;
      else if (scan > 1 && !this.#previousIds.has(bareId)) inst.oomKills = 0;
      throttle.begin(inst);
      this.#instances.set(key, inst);
    }
    inst.pod = pod;
    const r = await readInstance(reads, layout.version, inst, scan);
    if (r === VANISHED) {
      this.#evict(inst, emitted);
      locator.forgetPod(pod.uid);
      return "vanished";
    }
    const now = clock.now();
    if (r.oomKills !== undefined) report.events += await this.#deps.ooms.observe(pod, c, inst, r.oomKills);
    const mono = clock.monotonic();
    const mem = await memory.sample(key, pod, c.name, bareId, inst.files, r.memoryEvents, mono, now, emitted);
    if (mem === VANISHED) {
      this.#evict(inst, emitted);
      locator.forgetPod(pod.uid);
      return "vanished";
    }
    inst.cpuPressure.push(mono, r.pressure);
    const { cpu, usageSeconds } = r;
    if (cpu === undefined || usageSeconds === undefined) return "failed";
    inst.window.push({ atMs: clock.monotonic(), ...cpu, usageSeconds });
    const stats = inst.window.stats();
    metrics.series.set(key, {
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
    await throttle.observe(inst, stats, now, scan, emitted);
    return "read";
  }

  #evict(inst: Instance, emitted: () => void): void {
    const { clock, memory, metrics, reads, throttle } = this.#deps;
    this.#instances.delete(inst.key);
    metrics.series.delete(inst.key);
    reads.forget(inst.files);
    throttle.evict(inst, emitted);
    memory.evict(inst.key, inst.pod, inst.container, clock.now(), emitted);
  }
}
