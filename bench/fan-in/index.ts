// Fan-in: 1,000 simulated agents — real WebSocket clients in two load-generator processes,
// each sending Hello then one real protobuf Batch every 10 s — connected to one real
// aggregator process that writes to the local API server (run-fan-in.ts). Measured: the
// aggregator's RSS and CPU (from /proc) at steady state, ack latency per batch kind, the
// API write rate and exact counts. No floor: the targets are absolute.
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";
import { runFanIn } from "./run-fan-in.ts";

/** The aggregator's default cluster-wide --write-qps. */
export const DEFAULT_WRITE_QPS = 20;

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const agents = quick ? 100 : 1_000;
  return {
    name: "fan-in",
    rows: await runFanIn({
      agents,
      replicas: 1,
      generators: quick ? 1 : 2,
      windowMs: quick ? 5_000 : 60_000,
      quick,
      writeQps: DEFAULT_WRITE_QPS,
      label: quick
        ? `${agents} agents (quick; the full run has 1,000)`
        : `${agents.toLocaleString("en-US")} agents`,
    }),
  };
}

export const fanIn = { id: "fan-in", run } satisfies BenchCase;
