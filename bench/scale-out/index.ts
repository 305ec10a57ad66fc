// Scale-out: 5,000 simulated agents in five load-generator processes spread round-robin
// over three real aggregator replicas writing to one local API server. The cluster-wide
// write budget is three times the default (60/s), so each replica's share (ADR 0011) is what
// the single replica of the fan-in case has; BENCH_SCALE_OUT_WRITE_QPS changes it. Measured
// per replica (RSS, CPU), for the cluster (API write rate against the budget), ack latency
// per batch kind, and exact counts once everything is written.
import { DEFAULT_WRITE_QPS } from "../fan-in/index.ts";
import { runFanIn } from "../fan-in/run-fan-in.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const agents = quick ? 300 : 5_000;
  return {
    name: "scale-out",
    rows: await runFanIn({
      agents,
      replicas: 3,
      generators: quick ? 1 : 5,
      windowMs: quick ? 5_000 : 60_000,
      quick,
      writeQps: Number(process.env.BENCH_SCALE_OUT_WRITE_QPS ?? 3 * DEFAULT_WRITE_QPS),
      label: quick
        ? `${agents} agents over 3 replicas (quick; the full run has 5,000)`
        : `${agents.toLocaleString("en-US")} agents over 3 replicas`,
    }),
  };
}

export const scaleOut = { id: "scale-out", run } satisfies BenchCase;
