// Metrics of the aggregator's pipeline: its own (redelivery dedup, end-to-end latency) and
// those of the stages it drives (enrich, emit, retention), each defined in its own folder.
import { Counter, Gauge, Histogram, NETWORK_SECONDS_BUCKETS, type Registry } from "../../shared/metrics.ts";
import { createEmitMetrics } from "../emit/metrics.ts";
import { createEnrichMetrics } from "../enrich/metrics.ts";
import { createJournalMetrics } from "../journal/metrics.ts";
import { createRetentionMetrics } from "../retention/metrics.ts";

export function createPipelineMetrics(registry: Registry) {
  const registers = [registry];
  /** Point-in-time: the pipeline installs its own. */
  const redelivery = { bytes: () => 0 };
  return {
    redelivery,
    redeliveryCacheBytes: new Gauge({
      name: "kernel_gossip_aggregator_redelivery_cache_bytes",
      help: "Bytes the remembered event ids take (bounded by --redelivery-cache-bytes).",
      registers,
      collect() {
        this.set(redelivery.bytes());
      },
    }),
    redeliveriesDropped: new Counter({
      name: "kernel_gossip_aggregator_redeliveries_dropped_total",
      help: "Events not counted again because they were already written (at-least-once redelivery): found in the whisper's delivery ledger or in this replica's event-id cache.",
      registers,
    }),
    eventsDropped: new Counter({
      name: "kernel_gossip_aggregator_events_dropped_total",
      help: "Events acknowledged but never written, by reason (namespace_not_found, namespace_terminating, invalid, unrenderable, pod_not_found, shed, shed_bytes).",
      labelNames: ["reason"] as const,
      registers,
    }),
    endToEndLatency: new Histogram({
      name: "kernel_gossip_aggregator_end_to_end_latency_seconds",
      help: "From the event observed on the node to its custom resource written.",
      labelNames: ["type"] as const,
      buckets: NETWORK_SECONDS_BUCKETS,
      registers,
    }),
    ...createEmitMetrics(registry),
    ...createEnrichMetrics(registry),
    ...createJournalMetrics(registry),
    ...createRetentionMetrics(registry),
  };
}

export type PipelineMetrics = ReturnType<typeof createPipelineMetrics>;
