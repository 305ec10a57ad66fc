// Metrics of retention (GC and leader election). Names are part of the contract dashboards and alerts are built on.
import { Counter, Gauge, type Registry } from "../../shared/metrics.ts";

export function createRetentionMetrics(registry: Registry) {
  const registers = [registry];
  return {
    gcDeleted: new Counter({
      name: "kernel_gossip_aggregator_gc_deleted_total",
      help: "KernelWhispers deleted by the retention GC (expired, or over --max-whispers).",
      registers,
    }),
    leader: new Gauge({
      name: "kernel_gossip_aggregator_leader",
      help: "1 when this replica holds the GC lease.",
      registers,
    }),
  };
}

export type RetentionMetrics = ReturnType<typeof createRetentionMetrics>;
