// The pipeline's side of the write-ahead journal (docs/adr/0014): what a counted (batch,
// whisper) change becomes in the journal, and what a replayed entry folds back as. Which
// changes may be journaled (only in namespaces known to exist) is the writer's to say
// (CrWriter.namespaceKnown).
import type { DeliveryTag } from "../emit/ledger.ts";
import type { Occurrence, WhisperIdentity } from "../emit/whisper.ts";
import type { JournalRecord } from "../journal/index.ts";

/** What the journal keeps of a counted (batch, whisper) change: no evidence, no samples. */
export function journalRecord(
  key: string,
  identity: WhisperIdentity,
  tag: DeliveryTag,
  occurrences: readonly Occurrence[],
  mark: number,
): JournalRecord {
  let atMs = 0;
  for (const o of occurrences) if (o.observedAtMs > atMs) atMs = o.observedAtMs;
  return {
    key,
    identity,
    tag,
    atMs,
    mark,
    occurrences: occurrences.map((o) => ({
      pod: o.pod,
      count: o.count,
      ...(o.episode !== undefined && { episode: o.episode }),
      ...(o.resolved && { resolved: true }),
    })),
  };
}

/** A replayed entry's occurrences: counts and times only (the journal keeps no evidence). */
export function replayedOccurrences(record: JournalRecord): Occurrence[] {
  return record.occurrences.map((o) => ({
    pod: o.pod,
    observedAtMs: record.atMs,
    count: o.count,
    episode: o.episode,
    evidence: {},
    resolved: o.resolved === true,
    demandSamples: [],
  }));
}
