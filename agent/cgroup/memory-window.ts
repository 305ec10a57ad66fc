// A sliding window over one container's memory readings (monotonic time): how close the
// working set stayed to the limit, and how often the limit was hit, over the window. A
// limit-hit counter going down (the cgroup was recreated, or failcnt reset by hand)
// restarts the window: never a negative delta.
import type { MemoryReading } from "./memory.ts";

interface Point {
  atMs: number;
  workingSet: number;
  limit: number;
  hits: number;
  high: number;
}

export interface MemoryStats {
  workingSetBytes: number;
  limitBytes: number;
  /** workingSet / limit now; 0 without a limit. */
  ratio: number;
  /** Lowest workingSet / limit over the samples taken within the window; 0 when one had no limit. */
  minRatio: number;
  /** Samples taken within the window (persistence needs at least two). */
  samples: number;
  limitHits: number;
  highEvents: number;
  windowSeconds: number;
}

export class MemoryWindow {
  readonly #points: Point[] = [];
  windowMs: number;

  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }

  push(atMs: number, r: MemoryReading): void {
    const last = this.#points[this.#points.length - 1];
    const hits = r.limitHits ?? 0;
    const high = r.highEvents ?? 0;
    if (last && (hits < last.hits || high < last.high || atMs < last.atMs)) this.#points.length = 0;
    this.#points.push({ atMs, workingSet: r.workingSetBytes, limit: r.limitBytes, hits, high });
    const start = atMs - this.windowMs;
    while (this.#points.length > 2 && (this.#points[1] as Point).atMs <= start) this.#points.shift();
  }

  stats(): MemoryStats | undefined {
    const first = this.#points[0];
    const last = this.#points[this.#points.length - 1];
    if (!first || !last) return undefined;
    const ratioOf = (p: Point) => (p.limit > 0 ? p.workingSet / p.limit : 0);
    // The base point older than the window counts for the deltas, not for persistence.
    const start = last.atMs - this.windowMs;
    let minRatio = Number.POSITIVE_INFINITY;
    let samples = 0;
    for (const p of this.#points) {
      if (p.atMs <= start) continue;
      minRatio = Math.min(minRatio, ratioOf(p));
      samples++;
    }
    return {
      workingSetBytes: last.workingSet,
      limitBytes: last.limit,
      ratio: ratioOf(last),
      minRatio,
      samples,
      limitHits: last.hits - first.hits,
      highEvents: last.high - first.high,
      windowSeconds: (last.atMs - first.atMs) / 1000,
    };
  }
}
