// The shape every benchmark case returns. A case measures one thing that matters at
// 5,000 nodes against its floor (the cheapest possible way to do the same work), in the
// same run, so the ratio means something on a noisy shared machine.

export interface BenchRow {
  /** What was measured, e.g. "bytes per event (protobuf Batch)". */
  figure: string;
  /** Median over the iterations (or the single reading when the figure is one reading). */
  value: number;
  /** 99th percentile over the iterations, when the figure is a distribution. */
  p99?: number;
  unit: string;
  /** The same figure for the floor, measured in the same run. */
  floor?: number;
  /** value / floor. */
  ratio?: number;
  /** Human-readable target, e.g. "≤ 1.5× floor". */
  target?: string;
  /** Whether the target was met; absent when the row has no target. */
  pass?: boolean;
  /** How it was measured, or why it was not ("not measured: …"). */
  note?: string;
}

export interface BenchCaseResult {
  name: string;
  rows: BenchRow[];
}

export interface BenchOptions {
  /** Run briefly (seconds), for `make test`; the numbers are only a smoke check. */
  quick: boolean;
}

export interface BenchCase {
  /** Stable short id used by `--only`, e.g. "codec". */
  id: string;
  run(options: BenchOptions): Promise<BenchCaseResult>;
}

/** A row saying the case could not be measured, and why; never a crash. */
export function notMeasured(figure: string, why: string): BenchRow {
  return { figure, value: Number.NaN, unit: "", note: `not measured: ${why}` };
}
