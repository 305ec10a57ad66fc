// Metrics of the agent stream endpoint (kernel_gossip_aggregator_*). Names are a contract:
// dashboards and alerts in deploy/monitoring are built on them.
import { Counter, Gauge, Histogram, NETWORK_SECONDS_BUCKETS, type Registry } from "../../shared/metrics.ts";

/** Point-in-time state read at scrape time; the stream server installs its own. */
export interface StreamGaugeSources {
  /** Connections not being read from, by why: their own batches in flight, or the writer's bytes. */
  paused: () => { in_flight: number; pending_bytes: number };
}

export function createStreamMetrics(registry: Registry) {
  const registers = [registry];
  const sources: StreamGaugeSources = { paused: () => ({ in_flight: 0, pending_bytes: 0 }) };
  return {
    sources,
    connectionsPaused: new Gauge({
      name: "kernel_gossip_aggregator_connections_paused",
      help: "Agent connections this replica is not reading from, by reason: in_flight (64 of its batches await their acks) or pending_bytes (the writer holds more than 70% of --max-pending-bytes and the connection more than its share of what is unacknowledged; read again under 50%). A paused agent keeps its batches; when pending_bytes stays up, raise --max-pending-bytes or --write-qps, or add replicas.",
      labelNames: ["reason"] as const,
      registers,
      collect() {
        const paused = sources.paused();
        this.set({ reason: "in_flight" }, paused.in_flight);
        this.set({ reason: "pending_bytes" }, paused.pending_bytes);
      },
    }),
    connectedAgents: new Gauge({
      name: "kernel_gossip_aggregator_connected_agents",
      help: "Agent WebSocket connections currently open on this replica.",
      registers,
    }),
    connections: new Counter({
      name: "kernel_gossip_aggregator_connections_total",
      help: "Agent connection attempts by outcome (accepted, or the error code that refused them).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    framesReceived: new Counter({
      name: "kernel_gossip_aggregator_frames_received_total",
      help: "Frames received from agents by envelope type (hello, batch, invalid, ...).",
      labelNames: ["type"] as const,
      registers,
    }),
    eventsReceived: new Counter({
      name: "kernel_gossip_aggregator_events_received_total",
      help: "Events received in accepted batches, by type (failure, oom, throttle, birth).",
      labelNames: ["type"] as const,
      registers,
    }),
    rejects: new Counter({
      name: "kernel_gossip_aggregator_rejects_total",
      help: "Connections and frames refused, by stable error code (KG_*).",
      labelNames: ["code"] as const,
      registers,
    }),
    tokenReviews: new Counter({
      name: "kernel_gossip_aggregator_token_reviews_total",
      help: "Agent token validations by outcome (authenticated, cached, cached_rejected, rejected, error).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    configPushes: new Counter({
      name: "kernel_gossip_aggregator_config_pushes_total",
      help: "Config frames sent to agents (after Hello and on every ConfigMap change).",
      registers,
    }),
    batchDuration: new Histogram({
      name: "kernel_gossip_aggregator_batch_duration_seconds",
      help: "Time from receiving a batch to acknowledging it (every event written or deliberately dropped).",
      buckets: NETWORK_SECONDS_BUCKETS,
      registers,
    }),
    batchFailures: new Counter({
      name: "kernel_gossip_aggregator_batch_failures_total",
      help: "Batches whose handling failed; they were not acknowledged and the agent resends them.",
      registers,
    }),
  };
}

export type StreamMetrics = ReturnType<typeof createStreamMetrics>;
