// The pipeline's side of the write-ahead journal (docs/adr/0014): what a counted (batch,
// whisper) change becomes in the journal, and how a replayed entry folds back into its object
// with its journal marks (ADR 0014 "Marks"). Which changes may be journaled (only in namespaces
// known to exist) is the writer's to say (CrWriter.namespaceKnown).
import type { DeliveryTag } from "../emit/ledger.ts";
import {
  type Occurrence,
  type WhisperIdentity,
  type WhisperSettings,
  WhisperState,
} from "../emit/whisper.ts";
import type { WriteWaiter } from "../emit/write-waiter.ts";
import type { CrWriter } from "../emit/writer.ts";
import type { Journal, JournalRecord } from "../journal/index.ts";

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

/** What a replayed entry is folded with. */
export interface ReplayDeps {
  writer: CrWriter;
  /** What a whisper the replay creates starts with. */
  whisperSettings: WhisperSettings;
  /** This replica's journal: it holds the replayed entry again, with a mark of its own. */
  journal: Journal;
}

/**
 * Folds an entry replayed from journal `origin` into its object's pending write, tagged with
 * its batch like the original fold: the object's delivery ledger, or its mark for `origin`
 * (journal-marks.ts), drops it if already written. Returns the entry to hold in this
 * replica's journal, with its mark here.
 */
export function replayEntry(
  d: ReplayDeps,
  record: JournalRecord,
  waiter: WriteWaiter,
  origin: string,
): JournalRecord {
  const occurrences = replayedOccurrences(record);
  const mark = d.journal.nextMark();
  const marks = {
    replayOf: record.mark !== undefined ? { journal: origin, mark: record.mark } : undefined,
    own: { journal: d.journal.name, mark },
  };
  d.writer.submit(
    record.key,
    () => new WhisperState(record.identity, d.whisperSettings),
    (w: WhisperState) => w.recordBatch(record.tag, occurrences, true, marks).escalate,
    waiter,
  );
  return { ...record, mark };
}

/** A replayed entry's occurrences: counts and times only (the journal keeps no evidence). */
function replayedOccurrences(record: JournalRecord): Occurrence[] {
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
