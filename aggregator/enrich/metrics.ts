// Metrics of enrichment (owner/namespace lookups). Names are part of the contract dashboards and alerts are built on.
import { Counter, type Registry } from "../../shared/metrics.ts";

export function createEnrichMetrics(registry: Registry) {
  const registers = [registry];
  return {
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
  };
}

export type EnrichMetrics = ReturnType<typeof createEnrichMetrics>;
