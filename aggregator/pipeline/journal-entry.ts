// The pipeline's side of the write-ahead journal (docs/adr/0014): what a counted (batch,
// whisper) change becomes in the journal, what a replayed entry folds back as, and which
// changes may be journaled at all (only in namespaces known to exist).
import type { DeliveryTag } from "../emit/ledger.ts";
import type { Occurrence, WhisperIdentity } from "../emit/whisper.ts";
import type { JournalRecord } from "../journal/index.ts";

/** What the journal keeps of a counted (batch, whisper) change: no evidence, no samples. */
export function journalRecord(
  key: string,
  identity: WhisperIdentity,
  tag: DeliveryTag,
  occurrences: readonly Occurrence[],
): JournalRecord {
  let atMs = 0;
  for (const o of occurrences) if (o.observedAtMs > atMs) atMs = o.observedAtMs;
  return {
    key,
    identity,
    tag,
    atMs,
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

/** Namespaces remembered as existing before the memory starts over. */
const NAMESPACES_MAX = 10_000;

/**
 * Namespaces in which this replica has seen a whisper exist in the cluster: a new whisper's
 * change there is journaled without waiting for its first write (which, under a tight write
 * budget, waits as long as any other). Elsewhere the change waits for that first write, due at
 * once, which is what finds a missing namespace (the ack then says dropped). Bounded: cleared
 * when it reaches NAMESPACES_MAX.
 */
export class KnownNamespaces {
  #seen = new Set<string>();
  #inCluster: (key: string) => boolean;

  constructor(inCluster: (key: string) => boolean) {
    this.#inCluster = inCluster;
  }

  /** Whether the whisper under `key`, or another one of `namespace`, exists in the cluster. */
  exists(key: string, namespace: string): boolean {
    if (this.#seen.has(namespace)) return true;
    if (!this.#inCluster(key)) return false;
    if (this.#seen.size >= NAMESPACES_MAX) this.#seen.clear();
    this.#seen.add(namespace);
    return true;
  }
}
