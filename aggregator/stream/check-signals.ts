// The edge check of the signal an event carries (failure, kernel OOM, memory pressure, CPU
// throttling, birth): every number within what the kernel, the kubelet or the agent can
// produce (event-limits.ts). Field names are literals: nothing is built for a value that passes.
import { chars, type EventProblem, EVENT_LIMITS as L, range, time } from "./event-limits.ts";
import type { DecodedEvent } from "./frame-handler.ts";

/** The field names under a PressureWarning or Pressure message, built once at load. */
const warningFields = (field: string) => ({
  openedAtMs: `${field}.opened_at_ms`,
  resolvedAtMs: `${field}.resolved_at_ms`,
  workingSetPeakBytes: `${field}.working_set_peak_bytes`,
  limitBytes: `${field}.limit_bytes`,
});
const pressureFields = (field: string) => ({
  someAvg10: `${field}.some_avg10`,
  someAvg60: `${field}.some_avg60`,
  fullAvg10: `${field}.full_avg10`,
  fullAvg60: `${field}.full_avg60`,
  someStallSeconds: `${field}.some_stall_seconds`,
  fullStallSeconds: `${field}.full_stall_seconds`,
});
const FAILURE_WARNING = warningFields("failure.preceding_pressure");
const OOM_WARNING = warningFields("oom.preceding_pressure");
const MEMORY_PRESSURE = pressureFields("memory.pressure");
const THROTTLE_PRESSURE = pressureFields("throttle.pressure");

function warning(
  f: ReturnType<typeof warningFields>,
  w:
    | {
        openedAtMs?: number | null;
        resolvedAtMs?: number | null;
        workingSetPeakBytes?: number | null;
        limitBytes?: number | null;
      }
    | null
    | undefined,
  nowMs: number,
): EventProblem | undefined {
  if (!w) return undefined;
  return (
    time(f.openedAtMs, w.openedAtMs, nowMs) ??
    time(f.resolvedAtMs, w.resolvedAtMs, nowMs) ??
    range(f.workingSetPeakBytes, w.workingSetPeakBytes, 0, L.bytes) ??
    range(f.limitBytes, w.limitBytes, 0, L.bytes)
  );
}

/** PSI as the kernel writes it: percentages, and stall seconds within the window. */
function pressure(
  f: ReturnType<typeof pressureFields>,
  ps:
    | {
        someAvg10?: number | null;
        someAvg60?: number | null;
        fullAvg10?: number | null;
        fullAvg60?: number | null;
        someStallSeconds?: number | null;
        fullStallSeconds?: number | null;
      }
    | null
    | undefined,
): EventProblem | undefined {
  if (!ps) return undefined;
  return (
    range(f.someAvg10, ps.someAvg10, 0, 100) ??
    range(f.someAvg60, ps.someAvg60, 0, 100) ??
    range(f.fullAvg10, ps.fullAvg10, 0, 100) ??
    range(f.fullAvg60, ps.fullAvg60, 0, 100) ??
    range(f.someStallSeconds, ps.someStallSeconds, 0, L.windowSeconds) ??
    range(f.fullStallSeconds, ps.fullStallSeconds, 0, L.windowSeconds)
  );
}

/** The first field of the event's signal out of range, or undefined. */
export function checkSignal(ev: DecodedEvent, nowMs: number): EventProblem | undefined {
  // One function per signal: each is compiled on its own, with its checks inlined.
  if (ev.failure) return checkFailure(ev.failure, nowMs);
  if (ev.oom) return checkOom(ev.oom, nowMs);
  if (ev.memory) return checkMemory(ev.memory, nowMs);
  if (ev.throttle) return checkThrottle(ev.throttle);
  if (ev.birth) return checkBirth(ev.birth, nowMs);
  return undefined;
}

type Signal<K extends "failure" | "oom" | "memory" | "throttle" | "birth"> = NonNullable<DecodedEvent[K]>;

/** throttle.throttled_seconds: every core of the largest node, throttled a whole window. */
const THROTTLED_SECONDS_MAX = L.cores * L.windowSeconds;

function checkFailure(f: Signal<"failure">, nowMs: number): EventProblem | undefined {
  return (
    chars("failure.reason", f.reason, L.reasonChars) ??
    chars("failure.last_reason", f.lastReason, L.reasonChars) ??
    chars("failure.message", f.message, L.messageChars) ??
    range("failure.signal", f.signal, 0, 255) ??
    range("failure.restart_count", f.restartCount, 0, L.restartCount) ??
    range("failure.backoff_seconds", f.backoffSeconds, 0, L.backoffSeconds) ??
    range("failure.memory_limit_bytes", f.memoryLimitBytes, 0, L.bytes) ??
    time("failure.started_at_ms", f.startedAtMs, nowMs) ??
    time("failure.finished_at_ms", f.finishedAtMs, nowMs) ??
    warning(FAILURE_WARNING, f.precedingPressure, nowMs)
  );
}

function checkOom(o: Signal<"oom">, nowMs: number): EventProblem | undefined {
  return (
    range("oom.kills", o.kills, 0, L.kills) ??
    range("oom.memory_limit_bytes", o.memoryLimitBytes, 0, L.bytes) ??
    range("oom.memory_peak_bytes", o.memoryPeakBytes, 0, L.bytes) ??
    warning(OOM_WARNING, o.precedingPressure, nowMs)
  );
}

function checkMemory(m: Signal<"memory">, nowMs: number): EventProblem | undefined {
  const p =
    range("memory.working_set_bytes", m.workingSetBytes, 0, L.bytes) ??
    range("memory.limit_bytes", m.limitBytes, 0, L.bytes) ??
    range("memory.usage_bytes", m.usageBytes, 0, L.bytes) ??
    range("memory.peak_bytes", m.peakBytes, 0, L.bytes) ??
    range("memory.working_set_peak_bytes", m.workingSetPeakBytes, 0, L.bytes) ??
    range("memory.window_min_ratio", m.windowMinRatio, 0, 1) ??
    range("memory.window_seconds", m.windowSeconds, 0, L.windowSeconds) ??
    range("memory.limit_hits", m.limitHits, 0, L.bytes) ??
    range("memory.limit_hits_total", m.limitHitsTotal, 0, L.bytes) ??
    range("memory.high_events", m.highEvents, 0, L.bytes) ??
    range("memory.samples", m.samples, 0, L.count) ??
    range("memory.cgroup_version", m.cgroupVersion, 0, 2) ??
    time("memory.opened_at_ms", m.openedAtMs, nowMs) ??
    pressure(MEMORY_PRESSURE, m.pressure);
  if (p) return p;
  const triggers = m.triggers ?? [];
  if (triggers.length > 16) {
    return {
      field: "memory.triggers",
      detail: `memory.triggers has ${triggers.length} entries, at most 16`,
    };
  }
  for (let i = 0; i < triggers.length; i++) {
    const q = chars("memory.triggers", triggers[i], L.reasonChars);
    if (q) return q;
  }
  return undefined;
}

function checkThrottle(t: Signal<"throttle">): EventProblem | undefined {
  const p =
    range("throttle.throttled_ratio", t.throttledRatio, 0, 1) ??
    range("throttle.throttled_seconds", t.throttledSeconds, 0, THROTTLED_SECONDS_MAX) ??
    range("throttle.cores_used", t.coresUsed, 0, L.cores) ??
    range("throttle.limit_cores", t.limitCores, 0, L.cores) ??
    range("throttle.demand_cores", t.demandCores, 0, L.cores) ??
    range("throttle.window_seconds", t.windowSeconds, 0, L.windowSeconds) ??
    range("throttle.nr_periods", t.nrPeriods, 0, L.bytes) ??
    range("throttle.nr_throttled", t.nrThrottled, 0, L.bytes) ??
    range("throttle.pressure_some_avg10", t.pressureSomeAvg10, -1, 100) ??
    range("throttle.node_cpus", t.nodeCpus, 0, L.cores) ??
    range("throttle.pod_limit_cores", t.podLimitCores, 0, L.cores) ??
    range("throttle.pod_throttled_ratio", t.podThrottledRatio, 0, 1) ??
    range("throttle.runnable_threads", t.runnableThreads, 0, L.processCount) ??
    chars("throttle.demand_method", t.demandMethod, L.reasonChars) ??
    chars("throttle.limited_by", t.limitedBy, L.reasonChars) ??
    pressure(THROTTLE_PRESSURE, t.pressure);
  if (p) return p;
  // No demand above the node's CPUs is physical (ADR 0012); 0 = an agent that did not say.
  const most = typeof t.nodeCpus === "number" && t.nodeCpus > 0 ? t.nodeCpus : L.cores;
  const q = range("throttle.demand_cores", t.demandCores, 0, most);
  if (q) return q;
  const samples = t.demandSamples ?? [];
  if (samples.length > L.demandSamples) {
    return {
      field: "throttle.demand_samples",
      detail: `throttle.demand_samples has ${samples.length} samples, at most ${L.demandSamples}`,
    };
  }
  for (let i = 0; i < samples.length; i++) {
    const r = range("throttle.demand_samples", samples[i], 0, most);
    if (r) return r;
  }
  return undefined;
}

function checkBirth(b: Signal<"birth">, nowMs: number): EventProblem | undefined {
  const p =
    chars("birth.failure_reason", b.failureReason, L.reasonChars) ??
    range("birth.total_ms", b.totalMs, 0, L.durationMs) ??
    range("birth.cpu_seconds", b.cpuSeconds, 0, L.cpuSeconds) ??
    range("birth.throttled_periods", b.throttledPeriods, 0, L.bytes) ??
    range("birth.memory_peak_bytes", b.memoryPeakBytes, 0, L.bytes) ??
    range("birth.process_count", b.processCount, 0, L.processCount) ??
    time("birth.created_at_ms", b.createdAtMs, nowMs);
  if (p) return p;
  const steps = b.steps ?? [];
  if (steps.length > L.birthSteps) {
    return {
      field: "birth.steps",
      detail: `birth.steps has ${steps.length} steps, at most ${L.birthSteps}`,
    };
  }
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i] as NonNullable<Signal<"birth">["steps"]>[number];
    const q =
      chars("birth.steps.name", s.name, L.stepNameChars) ??
      chars("birth.steps.container", s.container, L.containerChars) ??
      time("birth.steps.at_ms", s.atMs, nowMs) ??
      range("birth.steps.duration_ms", s.durationMs, 0, L.durationMs);
    if (q) return q;
  }
  return undefined;
}
