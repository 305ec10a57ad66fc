// Metrics of the node's spool (kernel_gossip_agent_spool_*). Names are a contract.
import { Counter, Gauge, type Registry } from "../../shared/metrics.ts";

export function createSpoolMetrics(registry: Registry) {
  const registers = [registry];
  return {
    fileBytes: new Gauge({
      name: "kernel_gossip_agent_spool_file_bytes",
      help: "Size of the spool file on the node (unacknowledged batches, settled records until the next compaction, the snapshot).",
      registers,
    }),
    batches: new Gauge({
      name: "kernel_gossip_agent_spool_batches",
      help: "Batches in the spool not yet acknowledged (replayed after a restart).",
      registers,
    }),
    writtenBytes: new Counter({
      name: "kernel_gossip_agent_spool_written_bytes_total",
      help: "Bytes written to the spool, compactions included.",
      registers,
    }),
    fsyncs: new Counter({
      name: "kernel_gossip_agent_spool_fsyncs_total",
      help: "fsync calls on the spool (one per batch appended, two per compaction).",
      registers,
    }),
    replayed: new Counter({
      name: "kernel_gossip_agent_spool_replayed_batches_total",
      help: "Unacknowledged batches read back from the spool at start and resent.",
      registers,
    }),
    damaged: new Counter({
      name: "kernel_gossip_agent_spool_damaged_records_total",
      help: "Unreadable stretches of the spool skipped at start, by kind (torn: cut short at the end, e.g. a crash during a write; corrupt: a bad checksum or record inside the file).",
      labelNames: ["kind"] as const,
      registers,
    }),
    evicted: new Counter({
      name: "kernel_gossip_agent_spool_evicted_batches_total",
      help: "Unacknowledged batches removed from the spool (oldest first) to stay within SPOOL_MAX_BYTES; still sent, but not kept across a restart.",
      registers,
    }),
    writeErrors: new Counter({
      name: "kernel_gossip_agent_spool_write_errors_total",
      help: "Failed writes or fsyncs to the spool (disk full, I/O error); the batch is still sent, not kept across a restart.",
      registers,
    }),
  };
}

export type SpoolMetrics = ReturnType<typeof createSpoolMetrics>;
