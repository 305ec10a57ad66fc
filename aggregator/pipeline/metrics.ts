// Metrics of the aggregator's pipeline (redelivery dedup, enrichment, CR writer, pod events,
// retention). Names are part of the contract dashboards and alerts are built on.
import { Counter, Gauge, Histogram, NETWORK_SECONDS_BUCKETS, type Registry } from "../../shared/metrics.ts";

/** Point-in-time state read at scrape time; the writer installs its own. */
export interface PipelineGaugeSources {
  pendingObjects: () => number;
  whispers: () => Iterable<{ signal: string; severity: string }>;
}

export function createPipelineMetrics(registry: Registry) {
  const registers = [registry];
  const sources: PipelineGaugeSources = { pendingObjects: () => 0, whispers: () => [] };
  return {
    sources,
    redeliveriesDropped: new Counter({
      name: "kernel_gossip_aggregator_redeliveries_dropped_total",
      help: "Events not counted again because they were already written (at-least-once redelivery): found in the whisper's delivery ledger or in this replica's event-id cache.",
      registers,
    }),
    crWrites: new Counter({
      name: "kernel_gossip_aggregator_cr_writes_total",
      help: "Custom-resource write requests by kind and outcome (success, conflict, throttled, forbidden, not_found, invalid, error).",
      labelNames: ["kind", "outcome"] as const,
      registers,
    }),
    crWriteDuration: new Histogram({
      name: "kernel_gossip_aggregator_cr_write_duration_seconds",
      help: "Duration of one custom-resource write request.",
      labelNames: ["kind"] as const,
      buckets: NETWORK_SECONDS_BUCKETS,
      registers,
    }),
    writesCoalesced: new Counter({
      name: "kernel_gossip_aggregator_writes_coalesced_total",
      help: "Changes folded into an object's already pending write instead of writing again.",
      labelNames: ["kind"] as const,
      registers,
    }),
    pendingObjects: new Gauge({
      name: "kernel_gossip_aggregator_pending_objects",
      help: "Objects with changes not yet written.",
      registers,
      collect() {
        this.set(sources.pendingObjects());
      },
    }),
    enrichCacheHits: new Counter({
      name: "kernel_gossip_aggregator_enrich_cache_hits_total",
      help: "Owner/namespace lookups answered from the cache.",
      registers,
    }),
    enrichCacheMisses: new Counter({
      name: "kernel_gossip_aggregator_enrich_cache_misses_total",
      help: "Owner/namespace lookups that needed a GET.",
      registers,
    }),
    enrichFallbacks: new Counter({
      name: "kernel_gossip_aggregator_enrich_fallbacks_total",
      help: "Enrichments that fell back to the nearest known owner or the namespace, by reason.",
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
    whispers: new Gauge({
      name: "kernel_gossip_aggregator_whispers",
      help: "KernelWhispers this replica tracks, by signal and severity.",
      labelNames: ["signal", "severity"] as const,
      registers,
      collect() {
        this.reset();
        for (const w of sources.whispers()) this.inc({ signal: w.signal, severity: w.severity });
      },
    }),
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
    podEvents: new Counter({
      name: "kernel_gossip_aggregator_pod_events_total",
      help: "Warning Events on pods for new whispers, by outcome (written, filtered, failed).",
      labelNames: ["outcome"] as const,
      registers,
    }),
  };
}

export type PipelineMetrics = ReturnType<typeof createPipelineMetrics>;
