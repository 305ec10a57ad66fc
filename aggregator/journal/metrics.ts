// Metrics of the write-ahead journal (ADR 0014). Names are part of the contract dashboards and alerts are built on.
import { Counter, Gauge, Histogram, NETWORK_SECONDS_BUCKETS, type Registry } from "../../shared/metrics.ts";

/** Point-in-time state read at scrape time; the journal installs its own. */
export interface JournalGaugeSources {
  bytes: () => number;
  entries: () => number;
}

export function createJournalMetrics(registry: Registry) {
  const registers = [registry];
  const journalSources: JournalGaugeSources = { bytes: () => 0, entries: () => 0 };
  return {
    journalSources,
    journalBytes: new Gauge({
      name: "kernel_gossip_aggregator_journal_bytes",
      help: "Bytes of this replica's journal ConfigMap data as last written (bounded by --journal-max-bytes).",
      registers,
      collect() {
        this.set(journalSources.bytes());
      },
    }),
    journalEntries: new Gauge({
      name: "kernel_gossip_aggregator_journal_entries",
      help: "Counted (batch, whisper) changes held in this replica's journal: folded, not yet written to their whisper.",
      registers,
      collect() {
        this.set(journalSources.entries());
      },
    }),
    journalWrites: new Counter({
      name: "kernel_gossip_aggregator_journal_writes_total",
      help: "Writes of this replica's journal ConfigMap by outcome (success, conflict, not_found, error); each takes a token of the write budget.",
      labelNames: ["outcome"] as const,
      registers,
    }),
    journalWriteDuration: new Histogram({
      name: "kernel_gossip_aggregator_journal_write_duration_seconds",
      help: "Duration of one write request of this replica's journal ConfigMap (what a counted ack waits for beside the interval and the token).",
      buckets: NETWORK_SECONDS_BUCKETS,
      registers,
    }),
    journalFallbacks: new Counter({
      name: "kernel_gossip_aggregator_journal_fallbacks_total",
      help: "Counted (batch, whisper) changes that did not fit in the journal (--journal-max-bytes): their ack waits for the whisper's write.",
      registers,
    }),
    journalReplayed: new Counter({
      name: "kernel_gossip_aggregator_journal_replayed_entries_total",
      help: "Journal entries folded back into pending writes at start or from an orphaned journal, by origin (own, orphan); the whispers' delivery ledgers drop those already written.",
      labelNames: ["origin"] as const,
      registers,
    }),
  };
}

export type JournalMetrics = ReturnType<typeof createJournalMetrics>;
