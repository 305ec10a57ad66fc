// Metrics of the CR writer and pod Events. Names are part of the contract dashboards and alerts are built on.
import { Counter, Gauge, Histogram, NETWORK_SECONDS_BUCKETS, type Registry } from "../../shared/metrics.ts";

/** Point-in-time state read at scrape time; the writer installs its own. */
export interface EmitGaugeSources {
  pendingObjects: () => number;
  retryingObjects: () => number;
  /** Estimated bytes the writer's objects hold, waiting to be written and idle. */
  pendingBytes: () => { waiting: number; idle: number };
  whispers: () => Iterable<{ signal: string; severity: string }>;
}

/** Waits around the per-object interval (10 s) and the ack targets (2 s, interval + 2 s) are told apart. */
const WRITE_WAIT_BUCKETS = [0.05, 0.25, 0.5, 1, 2, 5, 8, 10, 12, 15, 20, 30, 60, 120];

export function createEmitMetrics(registry: Registry) {
  const registers = [registry];
  const sources: EmitGaugeSources = {
    pendingObjects: () => 0,
    retryingObjects: () => 0,
    pendingBytes: () => ({ waiting: 0, idle: 0 }),
    whispers: () => [],
  };
  return {
    sources,
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
    writeTokenWait: new Histogram({
      name: "kernel_gossip_aggregator_write_token_wait_seconds",
      help: "Time a custom-resource write request waited for a token of the write budget, by lane (birth, first, retry, state).",
      labelNames: ["lane"] as const,
      buckets: WRITE_WAIT_BUCKETS,
      registers,
    }),
    writeLag: new Histogram({
      name: "kernel_gossip_aggregator_write_lag_seconds",
      help: "Time from an object's oldest unwritten change to the request that writes it (per-object interval, token wait, retries), by lane.",
      labelNames: ["lane"] as const,
      buckets: WRITE_WAIT_BUCKETS,
      registers,
    }),
    writesCoalesced: new Counter({
      name: "kernel_gossip_aggregator_writes_coalesced_total",
      help: "Changes folded into an object's already pending write instead of writing again.",
      labelNames: ["kind"] as const,
      registers,
    }),
    whisperWatchEvents: new Counter({
      name: "kernel_gossip_aggregator_whisper_watch_events_total",
      help: "KernelWhisper watch events, by result: merged (a whisper this replica holds, newer than its copy: the next write carries the fresh resourceVersion), deferred (a request of the object was on the wire: taken in after its answer if still newer), unread (its first read or its re-read after a 409 is still to come), not_newer (our own write echoing back, or older), not_held (a whisper this replica does not hold).",
      labelNames: ["result"] as const,
      registers,
    }),
    whisperWatchConflictsAvoided: new Counter({
      name: "kernel_gossip_aggregator_whisper_watch_conflicts_avoided_total",
      help: "KernelWhisper status writes that succeeded with a resourceVersion the watch delivered (the copy held before was stale: without the watch each was a 409, a re-read and a retry).",
      registers,
    }),
    whisperWatchRestarts: new Counter({
      name: "kernel_gossip_aggregator_whisper_watch_restarts_total",
      help: "Restarts of the KernelWhisper watch, by cause (error, closed, stale, gone); while it is down writes fall back to 409, re-read, retry.",
      labelNames: ["cause"] as const,
      registers,
    }),
    writeBudgetReplicas: new Gauge({
      name: "kernel_gossip_aggregator_write_budget_replicas",
      help: "Aggregator replicas this one counts alive (write-budget Leases); it writes at most the cluster-wide --write-qps divided by this.",
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
    retryingObjects: new Gauge({
      name: "kernel_gossip_aggregator_retrying_objects",
      help: "Objects whose last write failed with a temporary error and that wait to retry; stuck writes keep it up.",
      registers,
      collect() {
        this.set(sources.retryingObjects());
      },
    }),
    pendingBytes: new Gauge({
      name: "kernel_gossip_aggregator_pending_bytes",
      help: "Estimated heap bytes the writer's objects hold (documents, delivery ledgers, the batches waiting on them and their ids), by state (waiting, idle); the sum is bounded by --max-pending-bytes.",
      labelNames: ["state"] as const,
      registers,
      collect() {
        const held = sources.pendingBytes();
        this.set({ state: "waiting" }, held.waiting);
        this.set({ state: "idle" }, held.idle);
      },
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
    podEvents: new Counter({
      name: "kernel_gossip_aggregator_pod_events_total",
      help: "Warning Events on pods for new whispers, by outcome (written, filtered, failed).",
      labelNames: ["outcome"] as const,
      registers,
    }),
  };
}

export type EmitMetrics = ReturnType<typeof createEmitMetrics>;
