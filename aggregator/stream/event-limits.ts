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

// The primitive checks: each returns the problem, or undefined when the value is within bounds.
// They are small so the compiler inlines them into the per-signal checks (no number boxed for
// a call, nothing allocated for a value that passes); the problem is built out of line.
// Bounds are finite, so NaN and ±Infinity fail the comparisons themselves.

export function chars(field: string, v: string | null | undefined, max: number): EventProblem | undefined {
  return (v?.length ?? 0) > max ? tooLong(field, v?.length ?? 0, max) : undefined;
}

export function range(
  field: string,
  v: number | null | undefined,
  min: number,
  max: number,
): EventProblem | undefined {
  const n = v ?? 0;
  return n >= min && n <= max ? undefined : outside(field, n, min, max);
}

/** A unix-millisecond time: 0 (unknown), else within [EARLIEST_TIME_MS, now + skew]. */
export function time(field: string, v: number | null | undefined, nowMs: number): EventProblem | undefined {
  const n = v ?? 0;
  return n === 0 || (n >= EARLIEST_TIME_MS && n <= nowMs + EVENT_FUTURE_SKEW_MS)
    ? undefined
    : outsideTime(field, n, nowMs + EVENT_FUTURE_SKEW_MS);
}

function tooLong(field: string, n: number, max: number): EventProblem {
  return { field, detail: `${field} is ${n} characters long, at most ${max}` };
}

function outside(field: string, n: number, min: number, max: number): EventProblem {
  return { field, detail: `${field} is ${n}, outside [${min}, ${max}]` };
}

function outsideTime(field: string, n: number, latest: number): EventProblem {
  return {
    field,
    detail: `${field} is ${n} (${Number.isFinite(n) && Math.abs(n) <= 8.64e15 ? new Date(n).toISOString() : "not a date"}), outside [${new Date(EARLIEST_TIME_MS).toISOString()}, ${new Date(latest).toISOString()}] of the aggregator's clock`,
  };
}
