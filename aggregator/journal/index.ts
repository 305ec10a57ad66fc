// The replica's write-ahead journal in the API server (docs/adr/0014-a-write-ahead-journal-for-counted-acks.md).
//
// A counted occurrence's ack promises that its count survives a crash (ADR 0008). Instead of
// waiting for its whisper's status write — one write per whisper per interval, more than the
// cluster-wide budget covers when hundreds of whispers count at once — the ack waits for this
// replica's journal write: one ConfigMap holding every counted (batch, whisper) change folded
// here and not yet written to its whisper (format.ts), written at most once per interval.
//
// Invariants:
// - at most one journal write in flight, at most one per `intervalMs` (coalesced: everything
//   held when a write is rendered goes into it); each takes a token of the write budget ahead
//   of the other lanes (fair-budget.ts `journal`);
// - a holder is told `journaled()` once a write that rendered its entry has landed; an entry
//   leaves the journal (at the next write) when its holder is released: its whisper write
//   landed, or it was answered for good (shed, invalid) — never when the writer stops;
// - the journal stays under `maxBytes`: an entry that would not fit is refused (the caller's
//   ack then waits for the whisper write, as before) and counted;
// - nothing is written before this replica's own journal was read (its entries are replayed
//   and held again), so a restart never overwrites what the previous process left;
// - replay (replay.ts) folds every entry of this replica's own journal, and of orphaned ones,
//   into the writer as a tagged change and holds it here again.
//
// The parts: this file holds the entries and decides when the journal is written; write.ts
// reads, writes and deletes its ConfigMap (size, resourceVersion, retries); format.ts encodes
// the entries, replay.ts replays journals, store.ts lists and stores the ConfigMaps.
import { Backoff } from "../../shared/backoff.ts";
import type { Clock, Timer } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { WriteWaiter } from "../emit/write-waiter.ts";
import type { JournalRecord } from "./format.ts";
import type { JournalMetrics } from "./metrics.ts";
import { type JournalHolder, JournalReplay } from "./replay.ts";
import type { JournalStore } from "./store.ts";
import { JournalWrites, RETRY_MAX_MS, RETRY_MIN_MS } from "./write.ts";

export type { JournalOccurrence, JournalRecord } from "./format.ts";
export { createJournalMetrics, type JournalMetrics } from "./metrics.ts";
export { type JournalHolder, ORPHAN_QUIET_CHECKS } from "./replay.ts";
export { JOURNAL_FAMILY, type JournalStore, journalName, kubeJournalStore } from "./store.ts";

export interface JournalSettings {
  intervalMs: number;
  maxBytes: number;
}

export interface JournalOptions extends JournalSettings {
  store: JournalStore;
  /** This replica's journal (store.ts journalName). */
  name: string;
  /** This replica's write-budget Lease: what the other replicas judge it alive by. */
  lease: string;
  clock: Clock;
  log: Logger;
  metrics: JournalMetrics;
  /** A token of the cluster-wide write budget, ahead of the whisper writes. */
  acquire: () => Promise<void>;
  /**
   * Folds a replayed entry of journal `origin` into the writer's pending writes as a change
   * tagged with its batch; returns the entry to hold here again, with this replica's mark.
   */
  replay: (record: JournalRecord, waiter: WriteWaiter, origin: string) => JournalRecord;
  /** Whether the replica owning a Lease is alive (write-budget's judgement). */
  alive: (lease: string) => boolean;
  /** How often orphaned journals are looked for (the lease duration). */
  orphanCheckMs: number;
}

interface Held {
  record: JournalRecord;
  holder: JournalHolder;
  journaled: boolean;
}

export class Journal {
  #o: JournalOptions;
  #held = new Map<JournalHolder, Held>();
  #ready = false;
  #stopped = false;
  #dirty = false;
  #running: Promise<void> | undefined;
  #timer: Timer | undefined;
  #orphanTimer: Timer | undefined;
  /** The ConfigMap's reads, writes and size (write.ts). */
  #writes: JournalWrites;
  #replay: JournalReplay;
  #starting: Promise<void> | undefined;

  constructor(options: JournalOptions) {
    this.#o = options;
    this.#writes = new JournalWrites(options);
    this.#replay = new JournalReplay({
      ...options,
      hold: (holder, record) => this.hold(holder, record),
      release: (holder) => this.release(holder),
      stopped: () => this.#stopped,
    });
    options.metrics.journalSources.bytes = () => this.#writes.bytes;
    options.metrics.journalSources.entries = () => this.#held.size;
  }

  /** This replica's journal: the key of its marks in whispers' `status.journals`. */
  get name(): string {
    return this.#o.name;
  }

  /**
   * The mark of a counted change folded now (ADR 0014, "Marks"): one more than the last. The
   * first is the wall clock in microseconds when this process started, so a restarted replica
   * continues above what its previous process gave (unless that gave more than a million marks
   * a second, or the clock was stepped back by more than the downtime), and marks in one
   * journal stay a few digits apart.
   */
  nextMark(): number {
    this.#lastMark ??= Math.floor(this.#o.clock.now() * 1000);
    this.#lastMark++;
    return this.#lastMark;
  }
  #lastMark: number | undefined;

  /** Entries held (counted changes not yet in their whisper). */
  get entries(): number {
    return this.#held.size;
  }

  /** Bytes of the journal as last rendered. */
  get bytes(): number {
    return this.#writes.bytes;
  }

  /**
   * Holds `record` until `release(holder)`; `holder.journaled()` once a journal write holding it
   * landed. False when it does not fit (the caller's ack waits for the whisper write) or the
   * journal is stopping.
   */
  hold(holder: JournalHolder, record: JournalRecord): boolean {
    if (this.#stopped) return false;
    if (!this.#writes.fits(record, this.#held.size)) return false;
    this.#held.set(holder, { record, holder, journaled: false });
    this.#dirty = true;
    this.#schedule();
    return true;
  }

  /** The holder's change is in its whisper (or answered for good): it leaves at the next write. */
  release(holder: JournalHolder): void {
    if (!this.#held.delete(holder)) return;
    this.#dirty = true;
    this.#schedule();
  }

  /**
   * Reads this replica's own journal (retrying until it can) and replays it, then starts
   * writing and looking for orphaned journals every `orphanCheckMs`.
   */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const { name, log } = this.#o;
    const retry = new Backoff({ initialMs: RETRY_MIN_MS, maxMs: RETRY_MAX_MS });
    while (!this.#stopped) {
      try {
        const own = await this.#writes.read();
        const replayed = this.#replay.own(own);
        if (replayed > 0) {
          log.info(
            { journal: name, entries: replayed },
            `journal ${name}: replaying ${replayed} counted change(s) a previous process of this replica acknowledged and had not written to their whispers`,
          );
        }
        break;
      } catch (err) {
        log.warn(
          { err: String(err), journal: name },
          `cannot read this replica's journal ConfigMap ${name}; counted batches wait for their whisper writes until it can be read. Check the aggregator's RBAC for configmaps (get, create, update, delete)`,
        );
        await new Promise<void>((resolve) => {
          this.#timer = this.#o.clock.setTimeout(resolve, retry.next());
        });
        this.#timer = undefined;
      }
    }
    if (this.#stopped) return;
    this.#ready = true;
    this.#schedule();
    const check = () => {
      if (this.#stopped) return;
      void this.checkOrphans().finally(() => {
        if (!this.#stopped) this.#orphanTimer = this.#o.clock.setTimeout(check, this.#o.orphanCheckMs);
      });
    };
    check();
  }

  /** Lists the journals and replays those whose replica is not alive (also run every orphanCheckMs). */
  checkOrphans(): Promise<void> {
    return this.#replay.checkOrphans();
  }

  #schedule(): void {
    if (!this.#ready || this.#stopped || !this.#dirty || this.#running || this.#timer) return;
    const now = this.#o.clock.monotonic();
    const due = this.#writes.dueAt(this.#o.intervalMs);
    this.#timer = this.#o.clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#running = this.#write(false).finally(() => {
          this.#running = undefined;
          this.#schedule();
        });
      },
      Math.max(0, due - now),
    );
  }

  /** One journal write of everything held now; `final`: at stop, without a token. */
  async #write(final: boolean): Promise<void> {
    try {
      if (!final) await this.#o.acquire();
    } catch {
      return; // the budget closed: the writer is stopping
    }
    this.#dirty = false;
    const landed = await this.#writes.write([...this.#held.values()], {
      dropped: (h) => this.#held.delete(h.holder),
      landed: (included) => {
        for (const h of included) {
          if (h.journaled || this.#held.get(h.holder) !== h) continue;
          h.journaled = true;
          h.holder.journaled();
        }
      },
    });
    if (!landed) this.#dirty = true;
  }

  /**
   * After the writer flushed at stop: deletes this replica's journal if nothing is left in it,
   * otherwise writes it a last time (no token: the budget is closed) and keeps it for the next
   * replica to replay.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    if (this.#orphanTimer) this.#o.clock.clearTimeout(this.#orphanTimer);
    this.#timer = undefined;
    await this.#running;
    if (!this.#ready) return; // never read: what is there stays for the next start
    const { name, log } = this.#o;
    if (this.#held.size === 0) {
      await this.#writes.delete();
      return;
    }
    if (this.#dirty) await this.#write(true);
    log.warn(
      { journal: name, entries: this.#held.size },
      `stopped with ${this.#held.size} counted change(s) not written to their whispers: kept in journal ${name} for this replica's next start or another replica to replay`,
    );
  }
}
