// Metrics of the agent's link to the aggregator (kernel_gossip_agent_*). Names are a contract.
import { Counter, Gauge, Histogram, NETWORK_SECONDS_BUCKETS, type Registry } from "../../shared/metrics.ts";
import { eventsDroppedCounter } from "../queue/metrics.ts";

export function createLinkMetrics(registry: Registry) {
  const registers = [registry];
  return {
    // Defined once with the queue, which counts its own overflow causes on it.
    eventsDropped: eventsDroppedCounter(registry),
    connected: new Gauge({
      name: "kernel_gossip_agent_link_connected",
      help: "1 while the WebSocket to the aggregator is open, else 0.",
      registers,
    }),
    reconnects: new Counter({
      name: "kernel_gossip_agent_link_reconnects_total",
      help: "Reconnections to the aggregator by cause (connect_failed, closed, heartbeat, rejected, refused).",
      labelNames: ["cause"] as const,
      registers,
    }),
    unackedBatches: new Gauge({
      name: "kernel_gossip_agent_unacked_batches",
      help: "Batches sent (or waiting to be resent) and not yet acknowledged.",
      registers,
    }),
    batchesSent: new Counter({
      name: "kernel_gossip_agent_batches_sent_total",
      help: "Batch frames written to the socket, resends included.",
      registers,
    }),
    sendLatency: new Histogram({
      name: "kernel_gossip_agent_batch_send_latency_seconds",
      help: "Time from a batch's first send to its acknowledgement (every event written by the aggregator).",
      buckets: NETWORK_SECONDS_BUCKETS,
      registers,
    }),
    eventsDelivered: new Counter({
      name: "kernel_gossip_agent_events_delivered_total",
      help: "Events in acknowledged batches.",
      registers,
    }),
    rejects: new Counter({
      name: "kernel_gossip_agent_rejects_total",
      help: "Rejects received from the aggregator (frames and connections), by error code.",
      labelNames: ["code"] as const,
      registers,
    }),
    configInfo: new Gauge({
      name: "kernel_gossip_agent_config_info",
      help: "Version (ConfigMap resourceVersion) of the remote config applied; value always 1.",
      labelNames: ["version"] as const,
      registers,
    }),
    configApplied: new Counter({
      name: "kernel_gossip_agent_config_applied_total",
      help: "Remote Config frames received, by outcome (applied, invalid).",
      labelNames: ["outcome"] as const,
      registers,
    }),
  };
}

export type LinkMetrics = ReturnType<typeof createLinkMetrics>;
