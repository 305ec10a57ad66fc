// Replaying journals (docs/adr/0014): this replica's own at start, and other replicas'
// orphaned ones, judged every lease duration.
//
// Invariants:
// - replay folds every entry into the writer as a tagged change and holds it again in this
//   replica's journal: the whisper's delivery ledger drops the tags it already holds, so
//   replaying twice, or on two replicas, counts once;
// - a journal is orphaned when its replica's write-budget Lease is gone or was not renewed
//   within the lease duration, AND the journal itself stayed unchanged for ORPHAN_QUIET_CHECKS
//   lease durations by this replica's clock;
// - an orphaned journal is deleted, with its resourceVersion as precondition, only once every
//   entry of it is durable again: in this replica's journal or in its whisper.
import { gunzipSync } from "node:zlib";
import { ChangeClock } from "../../shared/change-clock.ts";
import type { Clock } from "../../shared/clock.ts";
import { statusOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { WriteOutcome, WriteWaiter } from "../emit/write-waiter.ts";
import { decodeJournal, type JournalRecord } from "./format.ts";
import type { JournalMetrics } from "./metrics.ts";
import type { JournalStore, StoredJournal } from "./store.ts";

/** What waits for a journal write: the (batch, whisper) change it holds is durable once told. */
export interface JournalHolder {
  journaled(): void;
}

/**
 * A journal is taken for orphaned only after staying unchanged this many lease durations (and
 * its Lease not renewed): replaying a live replica's journal can count twice in a whisper whose
 * delivery ledger no longer holds the batch (more than 64 agents on it, ADR 0008), so the judge
 * errs on the side of waiting — 60 s at the default lease duration.
 */
export const ORPHAN_QUIET_CHECKS = 4;

export interface ReplayOptions {
  store: JournalStore;
  /** This replica's journal: never orphaned. */
  name: string;
  clock: Clock;
  log: Logger;
  metrics: JournalMetrics;
  /** Whether the replica owning a Lease is alive (write-budget's judgement). */
  alive: (lease: string) => boolean;
  /** How often orphaned journals are looked for (the lease duration). */
  orphanCheckMs: number;
  /**
   * Folds a replayed entry of journal `origin` into the writer's pending writes as a change
   * tagged with its batch; returns the entry to hold here again, with this replica's mark.
   */
  replay: (record: JournalRecord, waiter: WriteWaiter, origin: string) => JournalRecord;
  /** Holds a replayed entry in this replica's journal (Journal.hold). */
  hold: (holder: JournalHolder, record: JournalRecord) => boolean;
  /** Its change is in its whisper: it leaves this replica's journal (Journal.release). */
  release: (holder: JournalHolder) => void;
  /** The journal is stopping: no more replays. */
  stopped: () => boolean;
}

interface Orphan {
  journal: StoredJournal;
  /** Its entries not yet durable again. */
  outstanding: number;
}

/** A replayed entry: waits for its whisper write like a batch's change, held in the journal. */
class ReplayWait implements WriteWaiter, JournalHolder {
  readonly source = "journal-replay";
  durable = false;
  readonly orphan: Orphan | undefined;
  readonly onDurable: (w: ReplayWait) => void;
  readonly onAnswered: (w: ReplayWait) => void;
  constructor(
    orphan: Orphan | undefined,
    onDurable: (w: ReplayWait) => void,
    onAnswered: (w: ReplayWait) => void,
  ) {
    this.orphan = orphan;
    this.onDurable = onDurable;
    this.onAnswered = onAnswered;
  }
  journaled(): void {
    this.onDurable(this);
  }
  resolve(_outcome: WriteOutcome): void {
    this.onDurable(this);
    this.onAnswered(this);
  }
  reject(_err: Error): void {
    // The writer is stopping: the entry stays in the journal for the next replica.
  }
}

export class JournalReplay {
  #o: ReplayOptions;
  #orphans = new Map<string, Orphan>();
  /** When each listed journal last changed (its resourceVersion moved), by this replica's clock. */
  #changes = new ChangeClock();

  constructor(options: ReplayOptions) {
    this.#o = options;
  }

  /** Replays this replica's own journal as a previous process left it; returns how many entries. */
  own(j: StoredJournal | undefined): number {
    return this.#replay(j, undefined);
  }

  /** Lists the journals and replays those whose replica is not alive (also run every orphanCheckMs). */
  async checkOrphans(): Promise<void> {
    const { store, name, log, alive } = this.#o;
    let journals: StoredJournal[];
    try {
      journals = await store.list();
    } catch (err) {
      log.warn(
        { err: String(err) },
        "cannot list the aggregator journals to look for orphaned ones; retrying after the lease duration. Check the aggregator's RBAC for configmaps (list)",
      );
      return;
    }
    const now = this.#o.clock.monotonic();
    this.#changes.observe(journals, now);
    for (const j of journals) {
      if (this.#o.stopped()) return;
      if (j.name === name || this.#orphans.has(j.name) || alive(j.lease)) continue;
      // A replica with changes in its journal rewrites it every interval: one whose journal
      // changed within the lease duration (by this replica's clock) is alive, whatever its
      // Lease says (a Lease renewal late under load must not have its journal replayed).
      const changed = this.#changes.changedAt(j.name);
      if (changed === undefined || now - changed < ORPHAN_QUIET_CHECKS * this.#o.orphanCheckMs) continue;
      const orphan: Orphan = { journal: j, outstanding: 0 };
      this.#orphans.set(j.name, orphan);
      const replayed = this.#replay(j, orphan);
      log.info(
        { journal: j.name, lease: j.lease, entries: replayed },
        `journal ${j.name} is orphaned (its replica's Lease ${j.lease || "(none)"} is gone or was not renewed within the lease duration, and the journal unchanged for ${ORPHAN_QUIET_CHECKS} of them): replaying its ${replayed} counted change(s); it is deleted once they are durable again`,
      );
      if (orphan.outstanding === 0) await this.#deleteOrphan(orphan);
    }
  }

  /** Folds a journal's entries into the writer and holds them here; returns how many. */
  #replay(j: StoredJournal | undefined, orphan: Orphan | undefined): number {
    if (!j) return 0;
    let text: string | undefined;
    try {
      text = j.data ? gunzipSync(j.data).toString("utf8") : undefined;
    } catch {
      text = "(not gzip)";
    }
    const { records, malformed } = decodeJournal(text);
    if (malformed > 0) {
      this.#o.log.warn(
        { journal: j.name, malformed },
        `journal ${j.name}: ${malformed} entr(y/ies) could not be read (edited by hand, or another version) and are not replayed`,
      );
    }
    for (const record of records) {
      const wait = new ReplayWait(
        orphan,
        (w) => this.#durable(w),
        (w) => this.#o.release(w),
      );
      if (orphan) orphan.outstanding++;
      const again = this.#o.replay(record, wait, j.name);
      // Held again here (durable once this journal's write lands); if it does not fit, it is
      // durable once its whisper write lands.
      this.#o.hold(wait, again);
    }
    this.#o.metrics.journalReplayed.inc({ origin: orphan ? "orphan" : "own" }, records.length);
    return records.length;
  }

  #durable(w: ReplayWait): void {
    if (w.durable) return;
    w.durable = true;
    const orphan = w.orphan;
    if (!orphan) return;
    if (--orphan.outstanding === 0) void this.#deleteOrphan(orphan);
  }

  async #deleteOrphan(orphan: Orphan): Promise<void> {
    const { journal } = orphan;
    try {
      await this.#o.store.delete(journal.name, journal.resourceVersion);
      this.#o.log.info(
        { journal: journal.name },
        `deleted orphaned journal ${journal.name}: its counted changes are durable again (this replica's journal or their whispers)`,
      );
    } catch (err) {
      this.#o.log.info(
        { journal: journal.name, err: String(err), code: statusOf(err) },
        statusOf(err) === 409
          ? `orphaned journal ${journal.name} changed since it was read (its replica is back): left to it`
          : `could not delete orphaned journal ${journal.name}; it is replayed again later (its changes count once: delivery ledgers)`,
      );
    }
    this.#orphans.delete(journal.name);
  }
}
