// PSI (pressure stall information) of one resource over a sliding window: the kernel's
// averages as read, and the stall time over the window from the cumulative "total" (µs).
// Used for cpu.pressure in CPU throttling evidence and memory.pressure in MemoryPressure.
import type { WirePressure } from "../../shared/proto.ts";
import type { PressureFigures } from "./parse.ts";

interface Point {
  atMs: number;
  someTotalUs: number;
  fullTotalUs: number;
}

export class PressureWindow {
  readonly #points: Point[] = [];
  #latest?: PressureFigures;
  windowMs: number;

  constructor(windowMs: number) {
    this.windowMs = windowMs;
  }

  /** One scan's figures; undefined (not readable) forgets the window. */
  push(atMs: number, figures: PressureFigures | undefined): void {
    this.#latest = figures;
    if (figures === undefined) {
      this.#points.length = 0;
      return;
    }
    const last = this.#points[this.#points.length - 1];
    // A recreated cgroup starts its totals again: restart the window, never a negative stall.
    if (last && (figures.someTotalUs < last.someTotalUs || figures.fullTotalUs < last.fullTotalUs))
      this.#points.length = 0;
    this.#points.push({ atMs, someTotalUs: figures.someTotalUs, fullTotalUs: figures.fullTotalUs });
    const start = atMs - this.windowMs;
    while (this.#points.length > 2 && (this.#points[1] as Point).atMs <= start) this.#points.shift();
  }

  get latest(): PressureFigures | undefined {
    return this.#latest;
  }

  /** The wire message: averages as read, stall seconds over the window; undefined when not readable. */
  wire(): WirePressure | undefined {
    const f = this.#latest;
    if (f === undefined) return undefined;
    const first = this.#points[0];
    const last = this.#points[this.#points.length - 1];
    const span = first && last && first !== last;
    return {
      someAvg10: f.someAvg10,
      someAvg60: f.someAvg60,
      fullAvg10: f.fullAvg10,
      fullAvg60: f.fullAvg60,
      someStallSeconds: span ? (last.someTotalUs - first.someTotalUs) / 1e6 : 0,
      fullStallSeconds: span ? (last.fullTotalUs - first.fullTotalUs) / 1e6 : 0,
    };
  }
}
