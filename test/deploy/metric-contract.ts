// The metric-name contract: every metric kernel-gossip exports, as agreed between the
// engineers who build the modules and the dashboards and alerts in deploy/monitoring.
// docs/metrics.md is rendered from this list (scripts/gen-config-docs.ts); tests check
// that alerts and the dashboard use only these names and, once agent/metrics.ts and
// aggregator/metrics.ts exist, that the registries and this list agree.

export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricSpec {
  name: string;
  type: MetricType;
  labels: readonly string[];
  /** What it means to an operator; units are in the name (base units). */
  help: string;
}

const c = (name: string, labels: readonly string[], help: string): MetricSpec => ({
  name,
  type: "counter",
  labels,
  help,
});
const g = (name: string, labels: readonly string[], help: string): MetricSpec => ({
  name,
  type: "gauge",
  labels,
  help,
});
const h = (name: string, labels: readonly string[], help: string): MetricSpec => ({
  name,
  type: "histogram",
  labels,
  help,
});

const CONTAINER = ["namespace", "pod", "container"] as const;

export const AGENT_METRICS: readonly MetricSpec[] = [
  c(
    "kernel_gossip_agent_events_total",
    ["type", "reason"],
    "Events that left dedup, by type (failure, oom, throttle, memory, birth) and reason.",
  ),
  c(
    "kernel_gossip_agent_events_deduplicated_total",
    ["reason"],
    "Repeats held back by the dedup cooldown; their count leaves with an event of the same key by the end of the cooldown window, never lost.",
  ),
  g(
    "kernel_gossip_agent_dedup_held_occurrences",
    [],
    "Occurrences held back by the dedup cooldown right now (each leaves by the end of its window, or at shutdown).",
  ),
  c(
    "kernel_gossip_agent_dedup_evictions_total",
    [],
    "Dedup keys evicted because the cache reached DEDUP_MAX_KEYS before their cooldown ended.",
  ),
  c(
    "kernel_gossip_agent_oom_reports_not_counted_total",
    ["cause"],
    "Kubelet OOMKilled terminations not counted as OOM kills: pod-deleted (stopped by the pod's deletion) or kernel-counter-unchanged (the container's oom_kill counter did not move).",
  ),
  c(
    "kernel_gossip_agent_events_dropped_total",
    ["type", "cause"],
    "Events lost on purpose, by type and cause (queue_full, queue_bytes, rejected, shutdown).",
  ),
  g("kernel_gossip_agent_queue_events", [], "Events waiting in the outgoing queue."),
  g("kernel_gossip_agent_queue_bytes", [], "Encoded bytes waiting in the outgoing queue."),
  c(
    "kernel_gossip_agent_watch_restarts_total",
    ["cause"],
    "Pod watch restarts by cause (error, stale, gone, closed).",
  ),
  g(
    "kernel_gossip_agent_watch_last_event_age_seconds",
    [],
    "Seconds since the pod watch delivered its last event or bookmark.",
  ),
  g("kernel_gossip_agent_pods_watched", [], "Pods on this node currently tracked by the agent."),
  c(
    "kernel_gossip_agent_births_total",
    ["outcome"],
    "Pod birth certificates recorded, by outcome (ready, failed).",
  ),
  g("kernel_gossip_agent_link_connected", [], "1 while the WebSocket to the aggregator is open, else 0."),
  c(
    "kernel_gossip_agent_link_reconnects_total",
    ["cause"],
    "Reconnects of the link to the aggregator, by cause.",
  ),
  g("kernel_gossip_agent_unacked_batches", [], "Batches sent and not yet acknowledged."),
  c("kernel_gossip_agent_batches_sent_total", [], "Batches sent to the aggregator (resends included)."),
  g(
    "kernel_gossip_agent_spool_file_bytes",
    [],
    "Size of the node's spool file (SPOOL_DIR): unacknowledged batches, settled records until the next compaction, the snapshot.",
  ),
  g("kernel_gossip_agent_spool_batches", [], "Unacknowledged batches in the spool (resent after a restart)."),
  c("kernel_gossip_agent_spool_written_bytes_total", [], "Bytes written to the spool, compactions included."),
  c(
    "kernel_gossip_agent_spool_fsyncs_total",
    [],
    "fsync calls on the spool (one per batch, two per compaction).",
  ),
  c(
    "kernel_gossip_agent_spool_replayed_batches_total",
    [],
    "Unacknowledged batches read back from the spool at start and resent.",
  ),
  c(
    "kernel_gossip_agent_spool_damaged_records_total",
    ["kind"],
    "Unreadable stretches of the spool skipped at start (torn: cut short at the end; corrupt: bad checksum inside).",
  ),
  c(
    "kernel_gossip_agent_spool_evicted_batches_total",
    [],
    "Unacknowledged batches evicted (oldest first) to stay within SPOOL_MAX_BYTES: still sent, not kept across a restart.",
  ),
  c(
    "kernel_gossip_agent_spool_write_errors_total",
    [],
    "Failed writes or fsyncs to the spool (disk full, I/O error).",
  ),

  h(
    "kernel_gossip_agent_batch_send_latency_seconds",
    [],
    "Time from sending a batch to receiving its acknowledgement.",
  ),
  c(
    "kernel_gossip_agent_events_delivered_total",
    [],
    "Events acknowledged by the aggregator (each has an audit log line).",
  ),
  c("kernel_gossip_agent_rejects_total", ["code"], "Reject frames received, by stable error code (KG_*)."),
  g("kernel_gossip_agent_config_info", ["version"], "Version of the remote config applied (always 1)."),
  c(
    "kernel_gossip_agent_config_applied_total",
    ["outcome"],
    "Remote config frames received, by outcome (applied or invalid).",
  ),
  h(
    "kernel_gossip_agent_cgroup_scan_duration_seconds",
    [],
    "Duration of one scan of every located container cgroup.",
  ),
  c(
    "kernel_gossip_agent_cgroup_read_errors_total",
    ["file", "error"],
    "cgroup files that could not be read or parsed, by file and error.",
  ),
  g(
    "kernel_gossip_agent_cgroup_layout_info",
    ["version", "driver"],
    "Detected cgroup layout: version v1/v2, driver cgroupfs/systemd (always 1).",
  ),
  g("kernel_gossip_agent_cgroup_containers", [], "Containers whose cgroup is located and scanned."),
  c(
    "kernel_gossip_agent_kernel_oom_merged_total",
    [],
    "Kernel OOM kills not sent separately because the kubelet reports them (the main process died).",
  ),
  g(
    "kernel_gossip_container_cpu_throttled_ratio",
    CONTAINER,
    "Share of CFS periods throttled over the throttle window (absent without a CPU limit).",
  ),
  c(
    "kernel_gossip_container_cpu_throttled_seconds_total",
    CONTAINER,
    "Time the container was throttled, from cpu.stat (kernel counter).",
  ),
  c("kernel_gossip_container_cpu_periods_total", CONTAINER, "CFS enforcement periods elapsed (nr_periods)."),
  c(
    "kernel_gossip_container_cpu_throttled_periods_total",
    CONTAINER,
    "CFS periods in which the container was throttled (nr_throttled).",
  ),
  c("kernel_gossip_container_cpu_usage_seconds_total", CONTAINER, "CPU time used by the container."),
  g(
    "kernel_gossip_container_cpu_limit_cores",
    CONTAINER,
    "CPU limit in cores from the cgroup quota; no series when the container has no limit.",
  ),
  c(
    "kernel_gossip_container_oom_kills_total",
    CONTAINER,
    "OOM kills counted by the kernel in the container's memory cgroup.",
  ),
  g(
    "kernel_gossip_container_memory_working_set_bytes",
    CONTAINER,
    "Working set: memory usage minus inactive file cache (what is at risk of an OOM kill).",
  ),
  g(
    "kernel_gossip_container_memory_limit_bytes",
    CONTAINER,
    "Memory limit from the cgroup; no series when the container has no limit (not the same as no risk).",
  ),
  c(
    "kernel_gossip_container_memory_limit_hits_total",
    CONTAINER,
    "Times memory usage hit the limit (v2 memory.events max, v1 memory.failcnt).",
  ),
  c(
    "kernel_gossip_container_memory_pressure_stalled_seconds_total",
    CONTAINER,
    "Time some of the container's tasks waited for memory (memory.pressure some total); no series without PSI.",
  ),
];

export const AGGREGATOR_METRICS: readonly MetricSpec[] = [
  g("kernel_gossip_aggregator_connected_agents", [], "Agent WebSocket connections open on this replica."),
  g(
    "kernel_gossip_aggregator_connections_paused",
    ["reason"],
    "Agent connections this replica is not reading from, by reason: in_flight (64 of its batches await their acks) or pending_bytes (the writer holds more than 70% of --max-pending-bytes and the connection more than its share of what is unacknowledged; read again under 50%). A paused agent keeps its batches; when pending_bytes stays up, raise --max-pending-bytes or --write-qps, or add replicas.",
  ),
  c(
    "kernel_gossip_aggregator_connections_total",
    ["outcome"],
    "Agent connection attempts by outcome (accepted, or the error code that refused them).",
  ),
  c(
    "kernel_gossip_aggregator_frames_received_total",
    ["type"],
    "Frames received from agents by envelope type.",
  ),
  c(
    "kernel_gossip_aggregator_events_received_total",
    ["type"],
    "Events received in accepted batches, by type (failure, oom, throttle, memory, birth).",
  ),
  c(
    "kernel_gossip_aggregator_rejects_total",
    ["code"],
    "Connections and frames refused, by stable error code (KG_*).",
  ),
  c(
    "kernel_gossip_aggregator_token_reviews_total",
    ["outcome"],
    "Agent token validations by outcome (authenticated, cached, cached_rejected, rejected, error).",
  ),
  c("kernel_gossip_aggregator_config_pushes_total", [], "Config frames sent to agents."),
  c(
    "kernel_gossip_aggregator_config_reloads_total",
    ["outcome"],
    "Agent ConfigMap versions read, by outcome (applied, invalid, deleted).",
  ),
  c(
    "kernel_gossip_aggregator_whisper_watch_events_total",
    ["result"],
    "KernelWhisper watch events, by result: merged (a whisper this replica holds, newer than its copy: the next write carries the fresh resourceVersion), deferred (a request of the object was on the wire: taken in after its answer if still newer), unread (its first read or its re-read after a 409 is still to come), not_newer (our own write echoing back, or older), not_held (a whisper this replica does not hold).",
  ),
  c(
    "kernel_gossip_aggregator_whisper_watch_conflicts_avoided_total",
    [],
    "KernelWhisper status writes that succeeded with a resourceVersion the watch delivered (the copy held before was stale: without the watch each was a 409, a re-read and a retry).",
  ),
  c(
    "kernel_gossip_aggregator_whisper_watch_restarts_total",
    ["cause"],
    "Restarts of the KernelWhisper watch, by cause (error, closed, stale, gone); while it is down writes fall back to 409, re-read, retry.",
  ),
  c(
    "kernel_gossip_aggregator_config_watch_restarts_total",
    ["cause"],
    "Restarts of the agent ConfigMap watch, by cause (error, closed, stale, gone).",
  ),
  h(
    "kernel_gossip_aggregator_batch_duration_seconds",
    [],
    "Time from receiving a batch to acknowledging it.",
  ),
  c(
    "kernel_gossip_aggregator_batch_failures_total",
    [],
    "Batches whose handling failed; not acknowledged, so the agent resends them.",
  ),
  c(
    "kernel_gossip_aggregator_redeliveries_dropped_total",
    [],
    "Events dropped because their id was already processed (at-least-once delivery).",
  ),
  c(
    "kernel_gossip_aggregator_cr_writes_total",
    ["kind", "outcome"],
    "Custom-resource write requests by kind and outcome (success, conflict, throttled, error, invalid, not_found).",
  ),
  h(
    "kernel_gossip_aggregator_cr_write_duration_seconds",
    ["kind"],
    "Duration of one custom-resource write (server-side apply), retries included.",
  ),
  h(
    "kernel_gossip_aggregator_write_token_wait_seconds",
    ["lane"],
    "Time a custom-resource write request waited for a token of the write budget, by lane (birth, first, retry, state).",
  ),
  h(
    "kernel_gossip_aggregator_write_lag_seconds",
    ["lane"],
    "Time from an object's oldest unwritten change to the request that writes it (per-object interval, token wait, retries), by lane.",
  ),
  c(
    "kernel_gossip_aggregator_writes_coalesced_total",
    ["kind"],
    "Updates folded into a pending write of the same object (latest wins) instead of a write each.",
  ),
  g("kernel_gossip_aggregator_pending_objects", [], "Objects with an update waiting to be written."),
  g(
    "kernel_gossip_aggregator_retrying_objects",
    [],
    "Objects whose last write failed with a temporary error and that wait to retry; stuck writes keep it up.",
  ),
  g(
    "kernel_gossip_aggregator_pending_bytes",
    ["state"],
    "Estimated heap bytes the writer's objects hold (documents, delivery ledgers, the batches waiting on them and their ids), by state (waiting, idle); the sum is bounded by --max-pending-bytes.",
  ),
  g(
    "kernel_gossip_aggregator_redelivery_cache_bytes",
    [],
    "Bytes the remembered event ids take (bounded by --redelivery-cache-bytes).",
  ),
  c(
    "kernel_gossip_aggregator_events_dropped_total",
    ["reason"],
    "Events acknowledged but never written, by reason (namespace_not_found, namespace_terminating, invalid, unrenderable, pod_not_found, shed, shed_bytes).",
  ),
  g(
    "kernel_gossip_aggregator_write_budget_replicas",
    [],
    "Replicas this one counts alive (write-budget Leases); its write rate is the cluster-wide --write-qps divided by this.",
  ),
  g(
    "kernel_gossip_aggregator_journal_bytes",
    [],
    "Bytes of this replica's journal ConfigMap data as last written (bounded by --journal-max-bytes).",
  ),
  g(
    "kernel_gossip_aggregator_journal_entries",
    [],
    "Counted (batch, whisper) changes held in this replica's journal: folded, not yet written to their whisper.",
  ),
  c(
    "kernel_gossip_aggregator_journal_writes_total",
    ["outcome"],
    "Writes of this replica's journal ConfigMap by outcome (success, conflict, not_found, error); each takes a token of the write budget.",
  ),
  h(
    "kernel_gossip_aggregator_journal_write_duration_seconds",
    [],
    "Duration of one write request of this replica's journal ConfigMap (what a counted ack waits for beside the interval and the token).",
  ),
  c(
    "kernel_gossip_aggregator_journal_fallbacks_total",
    [],
    "Counted (batch, whisper) changes that did not fit in the journal (--journal-max-bytes): their ack waits for the whisper's write.",
  ),
  c(
    "kernel_gossip_aggregator_journal_replayed_entries_total",
    ["origin"],
    "Journal entries folded back into pending writes at start or from an orphaned journal, by origin (own, orphan); the whispers' delivery ledgers drop those already written.",
  ),
  c("kernel_gossip_aggregator_enrich_cache_hits_total", [], "Owner/namespace lookups served from the cache."),
  c(
    "kernel_gossip_aggregator_enrich_cache_misses_total",
    [],
    "Owner/namespace lookups that needed a GET from the API server.",
  ),
  c(
    "kernel_gossip_aggregator_enrich_fallbacks_total",
    ["reason"],
    "Enrichments that fell back to a weaker source (e.g. owner not found, API error), by reason.",
  ),
  h(
    "kernel_gossip_aggregator_end_to_end_latency_seconds",
    ["type"],
    "Time from the event being observed on the node to its custom resource being written.",
  ),
  g(
    "kernel_gossip_aggregator_whispers",
    ["signal", "severity"],
    "KernelWhispers this replica tracks, by signal and severity.",
  ),
  c("kernel_gossip_aggregator_gc_deleted_total", [], "KernelWhispers deleted by retention GC (leader only)."),
  g("kernel_gossip_aggregator_leader", [], "1 on the replica holding the retention-GC Lease, else 0."),
  c(
    "kernel_gossip_aggregator_pod_events_total",
    ["outcome"],
    "Warning Events on pods for new whispers, by outcome (written, filtered, failed).",
  ),
];

export const CONTRACT_METRICS: readonly MetricSpec[] = [...AGENT_METRICS, ...AGGREGATOR_METRICS];

/** Series names a metric exports: histograms add _bucket, _sum and _count. */
export function seriesNames(spec: Pick<MetricSpec, "name" | "type">): string[] {
  return spec.type === "histogram"
    ? [`${spec.name}_bucket`, `${spec.name}_sum`, `${spec.name}_count`]
    : [spec.name];
}
