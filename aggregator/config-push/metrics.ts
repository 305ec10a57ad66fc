// Metrics of the agent-config ConfigMap watch (kernel_gossip_aggregator_*).
import { Counter, type Registry } from "../../shared/metrics.ts";

export function createConfigPushMetrics(registry: Registry) {
  const registers = [registry];
  return {
    reloads: new Counter({
      name: "kernel_gossip_aggregator_config_reloads_total",
      help: "Agent ConfigMap versions read, by outcome (applied, invalid, deleted).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    watchRestarts: new Counter({
      name: "kernel_gossip_aggregator_config_watch_restarts_total",
      help: "Restarts of the agent ConfigMap watch, by cause (error, closed, stale, gone).",
      labelNames: ["cause"] as const,
      registers,
    }),
  };
}

export type ConfigPushMetrics = ReturnType<typeof createConfigPushMetrics>;
