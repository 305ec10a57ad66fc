// What a real agent can send, field by field: the limits every incoming event is checked
// against once, at the edge (the frame handler), before anything renders it. Each limit is
// what a kubelet, the kernel or the agent itself can produce, with room to spare; a value
// outside is a broken or hostile agent, and its batch is refused with KG_EVENT_INVALID
// naming the field (Reject.field), never clamped into something that looks real.
//
// Timestamps are checked against the aggregator's clock: at most EVENT_FUTURE_SKEW_MS ahead
// (node clocks drift; NTP keeps them within seconds) and no earlier than year 2000 (an agent
// resends what was not acknowledged after an outage, and a pod's creation can be old; an old
// time is harmless, a date no API server accepts is not). 0 means "not known" wherever the
// agent may leave a time out. So every date renders as RFC 3339 with a four-digit year,
// which is what the API server accepts for `format: date-time`.
import type { DecodedEvent } from "./frame-handler.ts";

export const EVENT_FUTURE_SKEW_MS = 3_600_000;
/** 2000-01-01T00:00:00Z: the earliest time accepted. */
export const EARLIEST_TIME_MS = 946_684_800_000;

export const EVENT_LIMITS = {
  /** `<pod uid>/<container>/<restart count>/<reason>` and the throttle/birth forms: < 200 in practice. */
  idChars: 512,
  uidChars: 128,
  /** A namespace is a DNS label. */
  namespaceChars: 63,
  /** Pod and node names are DNS subdomains. */
  nameChars: 253,
  /** A container name is a DNS label; "" for pod-level records. */
  containerChars: 63,
  labels: 256,
  /** Prefix (DNS subdomain, 253) + "/" + name (63). */
  labelKeyChars: 317,
  labelValueChars: 63,
  owners: 16,
  ownerFieldChars: 317,
  /** Occurrences one event stands for (dedup folds repeats into one event). */
  count: 1_000_000,
  reasonChars: 128,
  /** Termination messages are capped at 4 KiB by the kubelet; waiting messages run longer. */
  messageChars: 32_768,
  restartCount: 2 ** 31 - 1,
  backoffSeconds: 86_400,
  bytes: Number.MAX_SAFE_INTEGER,
  kills: 1_000_000,
  cores: 100_000,
  windowSeconds: 86_400,
  demandSamples: 10_000,
  birthSteps: 256,
  stepNameChars: 128,
  /** A pod may wait long (image pulls, scheduling) before it is born: a year. */
  durationMs: 365 * 86_400_000,
  cpuSeconds: 1e12,
  /** pid_max on 64-bit Linux. */
  processCount: 4_194_304,
} as const;

export interface EventProblem {
  /** The wire field, e.g. "observed_at_ms" or "pod.labels". */
  field: string;
  detail: string;
}

const L = EVENT_LIMITS;

function chars(field: string, v: string | null | undefined, max: number): EventProblem | undefined {
  const n = v?.length ?? 0;
  return n > max ? { field, detail: `${field} is ${n} characters long, at most ${max}` } : undefined;
}

function range(
  field: string,
  v: number | null | undefined,
  min: number,
  max: number,
): EventProblem | undefined {
  const n = v ?? 0;
  if (Number.isFinite(n) && n >= min && n <= max) return undefined;
  return { field, detail: `${field} is ${n}, outside [${min}, ${max}]` };
}

/** A unix-millisecond time: 0 (unknown) when `optional`, else within [earliest, now + skew]. */
function time(
  field: string,
  v: number | null | undefined,
  earliest: number,
  nowMs: number,
  optional = true,
): EventProblem | undefined {
  const n = v ?? 0;
  if (n === 0 && optional) return undefined;
  const latest = nowMs + EVENT_FUTURE_SKEW_MS;
  if (Number.isFinite(n) && n >= earliest && n <= latest) return undefined;
  return {
    field,
    detail: `${field} is ${n} (${Number.isFinite(n) && Math.abs(n) <= 8.64e15 ? new Date(n).toISOString() : "not a date"}), outside [${new Date(earliest).toISOString()}, ${new Date(latest).toISOString()}] of the aggregator's clock`,
  };
}

function warning(
  field: string,
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
    time(`${field}.opened_at_ms`, w.openedAtMs, EARLIEST_TIME_MS, nowMs) ??
    time(`${field}.resolved_at_ms`, w.resolvedAtMs, EARLIEST_TIME_MS, nowMs) ??
    range(`${field}.working_set_peak_bytes`, w.workingSetPeakBytes, 0, L.bytes) ??
    range(`${field}.limit_bytes`, w.limitBytes, 0, L.bytes)
  );
}

/** PSI as the kernel writes it: percentages, and stall seconds within the window. */
function pressure(
  field: string,
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
    range(`${field}.some_avg10`, ps.someAvg10, 0, 100) ??
    range(`${field}.some_avg60`, ps.someAvg60, 0, 100) ??
    range(`${field}.full_avg10`, ps.fullAvg10, 0, 100) ??
    range(`${field}.full_avg60`, ps.fullAvg60, 0, 100) ??
    range(`${field}.some_stall_seconds`, ps.someStallSeconds, 0, L.windowSeconds) ??
    range(`${field}.full_stall_seconds`, ps.fullStallSeconds, 0, L.windowSeconds)
  );
}

/** The first field of `ev` out of range, or undefined when every field is one a real agent can send. */
export function checkEvent(ev: DecodedEvent, nowMs: number): EventProblem | undefined {
  const pod = ev.pod;
  let p =
    chars("id", ev.id, L.idChars) ??
    chars("container", ev.container, L.containerChars) ??
    range("count", ev.count, 0, L.count) ??
    time("observed_at_ms", ev.observedAtMs, EARLIEST_TIME_MS, nowMs);
  if (p) return p;
  if (pod) {
    p =
      chars("pod.uid", pod.uid, L.uidChars) ??
      chars("pod.namespace", pod.namespace, L.namespaceChars) ??
      chars("pod.name", pod.name, L.nameChars) ??
      chars("pod.node", pod.node, L.nameChars) ??
      chars("pod.qos_class", pod.qosClass, 16);
    if (p) return p;
    // Per event: no entry arrays, and a field name is only built for a label out of bounds.
    const labels = pod.labels;
    if (labels) {
      let n = 0;
      for (const _ in labels) n++;
      if (n > L.labels) {
        return { field: "pod.labels", detail: `pod.labels has ${n} labels, at most ${L.labels}` };
      }
      for (const k in labels) {
        const v = labels[k];
        p =
          chars("pod.labels key", k, L.labelKeyChars) ??
          ((v?.length ?? 0) > L.labelValueChars
            ? chars(`pod.labels[${k}]`, v, L.labelValueChars)
            : undefined);
        if (p) return p;
      }
    }
    const owners = pod.owners ?? [];
    if (owners.length > L.owners) {
      return { field: "pod.owners", detail: `pod.owners has ${owners.length} entries, at most ${L.owners}` };
    }
    for (const o of owners) {
      p =
        chars("pod.owners.api_version", o.apiVersion, L.ownerFieldChars) ??
        chars("pod.owners.kind", o.kind, L.ownerFieldChars) ??
        chars("pod.owners.name", o.name, L.nameChars) ??
        chars("pod.owners.uid", o.uid, L.uidChars);
      if (p) return p;
    }
  }
  if (ev.failure) {
    const f = ev.failure;
    return (
      chars("failure.reason", f.reason, L.reasonChars) ??
      chars("failure.last_reason", f.lastReason, L.reasonChars) ??
      chars("failure.message", f.message, L.messageChars) ??
      range("failure.signal", f.signal, 0, 255) ??
      range("failure.restart_count", f.restartCount, 0, L.restartCount) ??
      range("failure.backoff_seconds", f.backoffSeconds, 0, L.backoffSeconds) ??
      range("failure.memory_limit_bytes", f.memoryLimitBytes, 0, L.bytes) ??
      time("failure.started_at_ms", f.startedAtMs, EARLIEST_TIME_MS, nowMs) ??
      time("failure.finished_at_ms", f.finishedAtMs, EARLIEST_TIME_MS, nowMs) ??
      warning("failure.preceding_pressure", f.precedingPressure, nowMs)
    );
  }
  if (ev.oom) {
    const o = ev.oom;
    return (
      range("oom.kills", o.kills, 0, L.kills) ??
      range("oom.memory_limit_bytes", o.memoryLimitBytes, 0, L.bytes) ??
      range("oom.memory_peak_bytes", o.memoryPeakBytes, 0, L.bytes) ??
      warning("oom.preceding_pressure", o.precedingPressure, nowMs)
    );
  }
  if (ev.memory) {
    const m = ev.memory;
    p =
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
      time("memory.opened_at_ms", m.openedAtMs, EARLIEST_TIME_MS, nowMs);
    if (p) return p;
    p = pressure("memory.pressure", m.pressure);
    if (p) return p;
    const triggers = m.triggers ?? [];
    if (triggers.length > 16) {
      return {
        field: "memory.triggers",
        detail: `memory.triggers has ${triggers.length} entries, at most 16`,
      };
    }
    for (const t of triggers) {
      p = chars("memory.triggers", t, L.reasonChars);
      if (p) return p;
    }
    return undefined;
  }
  if (ev.throttle) {
    const t = ev.throttle;
    p =
      range("throttle.throttled_ratio", t.throttledRatio, 0, 1) ??
      range("throttle.throttled_seconds", t.throttledSeconds, 0, L.cores * L.windowSeconds) ??
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
      pressure("throttle.pressure", t.pressure);
    if (p) return p;
    // No demand above the node's CPUs is physical (ADR 0012); 0 = an agent that did not say.
    const most = typeof t.nodeCpus === "number" && t.nodeCpus > 0 ? t.nodeCpus : L.cores;
    p = range("throttle.demand_cores", t.demandCores, 0, most);
    if (p) return p;
    const samples = t.demandSamples ?? [];
    if (samples.length > L.demandSamples) {
      return {
        field: "throttle.demand_samples",
        detail: `throttle.demand_samples has ${samples.length} samples, at most ${L.demandSamples}`,
      };
    }
    for (const s of samples) {
      p = range("throttle.demand_samples", s, 0, most);
      if (p) return p;
    }
    return undefined;
  }
  if (ev.birth) {
    const b = ev.birth;
    p =
      chars("birth.failure_reason", b.failureReason, L.reasonChars) ??
      range("birth.total_ms", b.totalMs, 0, L.durationMs) ??
      range("birth.cpu_seconds", b.cpuSeconds, 0, L.cpuSeconds) ??
      range("birth.throttled_periods", b.throttledPeriods, 0, L.bytes) ??
      range("birth.memory_peak_bytes", b.memoryPeakBytes, 0, L.bytes) ??
      range("birth.process_count", b.processCount, 0, L.processCount) ??
      time("birth.created_at_ms", b.createdAtMs, EARLIEST_TIME_MS, nowMs);
    if (p) return p;
    const steps = b.steps ?? [];
    if (steps.length > L.birthSteps) {
      return {
        field: "birth.steps",
        detail: `birth.steps has ${steps.length} steps, at most ${L.birthSteps}`,
      };
    }
    for (const s of steps) {
      p =
        chars("birth.steps.name", s.name, L.stepNameChars) ??
        chars("birth.steps.container", s.container, L.containerChars) ??
        time("birth.steps.at_ms", s.atMs, EARLIEST_TIME_MS, nowMs) ??
        range("birth.steps.duration_ms", s.durationMs, 0, L.durationMs);
      if (p) return p;
    }
  }
  return undefined;
}
