// A sliding window over one cgroup's cumulative CPU counters. Samples carry monotonic time;
// figures are deltas between the oldest sample still covering the window and the newest.
// Any counter going down (the container restarted, or a new cgroup under the same key)
// restarts the window from the new sample: never a negative or a huge delta.

export interface CpuSample {
  /** Monotonic milliseconds. */
  atMs: number;
  periods: number;
  throttled: number;
  throttledSeconds: number;
  usageSeconds: number;
}

export interface WindowStats {
  /** Δnr_throttled / Δnr_periods; 0 when no period ran (idle). */
  ratio: number;
  /**
   * Throttled time over the window. The kernel sums it over the group's per-CPU run queues,
   * so on a multi-CPU node it can exceed the window (ADR 0012): never read it as wall time.
   */
  throttledSeconds: number;
  coresUsed: number;
  windowSeconds: number;
  nrPeriods: number;
  nrThrottled: number;
}

function statsBetween(a: CpuSample, b: CpuSample): WindowStats | undefined {
  const seconds = (b.atMs - a.atMs) / 1000;
  if (seconds <= 0) return undefined;
  const nrPeriods = b.periods - a.periods;
  const nrThrottled = b.throttled - a.throttled;
  const throttledSeconds = b.throttledSeconds - a.throttledSeconds;
  const usage = b.usageSeconds - a.usageSeconds;
  return {
    ratio: nrPeriods > 0 ? nrThrottled / nrPeriods : 0,
    throttledSeconds,
    coresUsed: usage / seconds,
    windowSeconds: seconds,
    nrPeriods,
    nrThrottled,
  };
}

export class CpuWindow {
  readonly #samples: CpuSample[] = [];
  #windowMs: number;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  set windowMs(ms: number) {
    this.#windowMs = ms;
  }

  /** Adds a sample; returns true when it restarted the window (counter reset). */
  push(sample: CpuSample): boolean {
    const last = this.#samples[this.#samples.length - 1];
    const reset =
      last !== undefined &&
      (sample.periods < last.periods ||
        sample.throttled < last.throttled ||
        sample.throttledSeconds < last.throttledSeconds ||
        sample.usageSeconds < last.usageSeconds ||
        sample.atMs < last.atMs);
    if (reset) this.#samples.length = 0;
    this.#samples.push(sample);
    // Keep the newest sample at or before the window's start as its base.
    const start = sample.atMs - this.#windowMs;
    while (this.#samples.length > 2 && (this.#samples[1] as CpuSample).atMs <= start) this.#samples.shift();
    return reset;
  }

  /** Figures over the window, undefined until two samples exist. */
  stats(): WindowStats | undefined {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    return first && last && first !== last ? statsBetween(first, last) : undefined;
  }

  /** Figures over the last scan interval only (for demand estimates). */
  lastStep(): WindowStats | undefined {
    const n = this.#samples.length;
    const a = this.#samples[n - 2];
    const b = this.#samples[n - 1];
    return a && b ? statsBetween(a, b) : undefined;
  }

  get latest(): CpuSample | undefined {
    return this.#samples[this.#samples.length - 1];
  }
}
