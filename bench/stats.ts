// Summaries of many samples: median and p99, never a single run.

export interface Summary {
  n: number;
  median: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Linear-interpolated percentile (q in [0, 1]) of already sorted samples. */
export function percentileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((s, x) => s + x, 0);
  return {
    n: sorted.length,
    median: percentileSorted(sorted, 0.5),
    p99: percentileSorted(sorted, 0.99),
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Results of side-by-side work are accumulated here so the JIT cannot drop the work. */
let sink = 0;
export function consume(value: unknown): void {
  if (typeof value === "number") sink += value;
  else if (value instanceof Uint8Array) sink += value.length;
  else if (value !== undefined && value !== null) sink += 1;
}
export function sinkValue(): number {
  return sink;
}

/**
 * Runs each function `warmup` times, then `iterations` rounds in which every function
 * runs once, in a rotating order, each timed with performance.now(). Interleaving makes
 * machine noise fall on all contenders alike. Returns milliseconds per call, per name.
 */
export function sideBySide<K extends string>(
  fns: Record<K, () => unknown>,
  options: { warmup: number; iterations: number },
): Record<K, number[]> {
  const names = Object.keys(fns) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < options.warmup; i++) for (const n of names) consume(fns[n]());
  for (let i = 0; i < options.iterations; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length] as K;
      const fn = fns[name];
      const t0 = performance.now();
      const out = fn();
      const t1 = performance.now();
      consume(out);
      samples[name].push(t1 - t0);
    }
  }
  return samples;
}

/** Rounds for display: 3 significant digits, integers kept whole. */
export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  if (Math.abs(value) >= 100) return Math.round(value);
  return Number(value.toPrecision(3));
}
