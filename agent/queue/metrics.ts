// Metrics of the agent's outgoing path: what leaves dedup, what dedup held back, what the
// bounded queue had to drop and how full it is. Names are the project's contract.
import { Counter, Gauge, type Registry } from "../../shared/metrics.ts";

const DROP_CAUSES = ["queue_full", "queue_bytes", "rejected", "shutdown"] as const;
export type DropCause = (typeof DROP_CAUSES)[number];

/** What the queue gauges read at scrape time. */
export interface QueueLevel {
  readonly size: number;
  readonly bytes: number;
}

const DROPPED = "kernel_gossip_agent_events_dropped_total";

/**
 * The agent's one count of events given up on, by type and cause. The queue counts its
 * overflow causes on it, the link (agent/link/metrics.ts) rejected and shutdown drops:
 * whichever registers it first creates it, the other reuses it.
 */
export function eventsDroppedCounter(registry: Registry): Counter<"type" | "cause"> {
  return (
    (registry.getSingleMetric(DROPPED) as Counter<"type" | "cause"> | undefined) ??
    new Counter({
      name: DROPPED,
      help: `Events the agent gave up on, by type and cause (${DROP_CAUSES.join(", ")}).`,
      labelNames: ["type", "cause"] as const,
      registers: [registry],
    })
  );
}

export function createQueueMetrics(registry: Registry) {
  let level: QueueLevel | undefined;
  let dedup: { held(): number } | undefined;
  return {
    events: new Counter({
      name: "kernel_gossip_agent_events_total",
      help: "Events that passed dedup towards the aggregator, by type and reason (each counted once).",
      labelNames: ["type", "reason"] as const,
      registers: [registry],
    }),
    deduplicated: new Counter({
      name: "kernel_gossip_agent_events_deduplicated_total",
      help: "Repeats held back by the dedup cooldown; their count leaves with an event of the same key by the end of the cooldown window.",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    dedupHeld: new Gauge({
      name: "kernel_gossip_agent_dedup_held_occurrences",
      help: "Occurrences held back by the dedup cooldown right now; each leaves, as the count of an event of its key, by the end of its cooldown window (or at shutdown).",
      registers: [registry],
      collect() {
        this.set(dedup?.held() ?? 0);
      },
    }),
    dedupEvictions: new Counter({
      name: "kernel_gossip_agent_dedup_evictions_total",
      help: "Keys evicted from the full dedup cache before their cooldown ended (raise --dedup-max-keys if this grows).",
      registers: [registry],
    }),
    dropped: eventsDroppedCounter(registry),
    queueEvents: new Gauge({
      name: "kernel_gossip_agent_queue_events",
      help: "Events waiting in the outgoing queue.",
      registers: [registry],
      collect() {
        this.set(level?.size ?? 0);
      },
    }),
    queueBytes: new Gauge({
      name: "kernel_gossip_agent_queue_bytes",
      help: "Encoded bytes of the events waiting in the outgoing queue.",
      registers: [registry],
      collect() {
        this.set(level?.bytes ?? 0);
      },
    }),
    /** The dedup stage registers itself here so the held gauge reads it at scrape time. */
    observeDedup(source: { held(): number }): void {
      dedup = source;
    },
    /** The outbox registers itself here so the gauges read it at scrape time. */
    observeQueue(source: QueueLevel): void {
      level = source;
    },
  };
}

export type QueueMetrics = ReturnType<typeof createQueueMetrics>;
