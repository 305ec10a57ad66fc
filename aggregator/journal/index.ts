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
// - replay folds every entry into the writer as a tagged change: the whisper's delivery ledger
//   drops the tags it already holds, so replaying twice, or on two replicas, counts once;
// - an orphaned journal (its replica's write-budget Lease gone or not renewed within the lease
//   duration, and the journal itself unchanged for ORPHAN_QUIET_CHECKS lease durations) is deleted, with its resourceVersion as precondition, only once every entry of it
//   is durable again: in this replica's journal or in its whisper.
import { gunzipSync, gzipSync } from "node:zlib";
import type { Clock, Timer } from "../../shared/clock.ts";
import { statusOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { WriteOutcome, WriteWaiter } from "../emit/write-waiter.ts";
import { decodeJournal, encodeJournal, estimateBytes, type JournalRecord } from "./format.ts";
import type { JournalMetrics } from "./metrics.ts";
import type { JournalStore, StoredJournal } from "./store.ts";

export type { JournalOccurrence, JournalRecord } from "./format.ts";
export { createJournalMetrics, type JournalMetrics } from "./metrics.ts";
export { JOURNAL_FAMILY, type JournalStore, journalName, kubeJournalStore } from "./store.ts";

/** What waits for a journal write: the (batch, whisper) change it holds is durable once told. */
export interface JournalHolder {
  journaled(): void;
}

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
  /** Folds a replayed entry into the writer's pending writes as a change tagged with its batch. */
  replay: (record: JournalRecord, waiter: WriteWaiter) => void;
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

interface Orphan {
  journal: StoredJournal;
  /** Its entries not yet durable again. */
  outstanding: number;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
const FULL_LOG_EVERY_MS = 60_000;
/**
 * A journal is taken for orphaned only after staying unchanged this many lease durations (and
 * its Lease not renewed): replaying a live replica's journal can count twice in a whisper whose
 * delivery ledger no longer holds the batch (more than 64 agents on it, ADR 0008), so the judge
 * errs on the side of waiting — 60 s at the default lease duration.
 */
export const ORPHAN_QUIET_CHECKS = 4;

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

export class Journal {
  #o: JournalOptions;
  #held = new Map<JournalHolder, Held>();
  #ready = false;
  #stopped = false;
  #dirty = false;
  #running: Promise<void> | undefined;
  #timer: Timer | undefined;
  #orphanTimer: Timer | undefined;
  #lastWriteMono = Number.NEGATIVE_INFINITY;
  #notBefore = 0;
  #failures = 0;
  /** The own ConfigMap's resourceVersion; undefined: create it. */
  #rv: string | undefined;
  #renderedBytes = 0;
  /** Gzipped / JSON bytes of the last write (at most 1). */
  #ratio = 1;
  /** Upper bound of what was held since the last render. */
  #addedBytes = 0;
  #lastFullLogMono = Number.NEGATIVE_INFINITY;
  #orphans = new Map<string, Orphan>();
  /** Other replicas' journals as last listed: resourceVersion and when it last changed (own clock). */
  #seen = new Map<string, { resourceVersion: string; changedMono: number }>();
  #starting: Promise<void> | undefined;

  constructor(options: JournalOptions) {
    this.#o = options;
    options.metrics.journalSources.bytes = () => this.#renderedBytes;
    options.metrics.journalSources.entries = () => this.#held.size;
  }

  /** Entries held (counted changes not yet in their whisper). */
  get entries(): number {
    return this.#held.size;
  }

  /** Bytes of the journal as last rendered. */
  get bytes(): number {
    return this.#renderedBytes;
  }

  /**
   * Holds `record` until `release(holder)`; `holder.journaled()` once a journal write holding it
   * landed. False when it does not fit (the caller's ack waits for the whisper write) or the
   * journal is stopping.
   */
  hold(holder: JournalHolder, record: JournalRecord): boolean {
    if (this.#stopped) return false;
    // The JSON upper bound scaled by what gzip made of the last write (the write itself checks
    // the real size and sends what does not fit back to its whisper write).
    const est = Math.ceil(estimateBytes(record) * this.#ratio);
    if (this.#renderedBytes + this.#addedBytes + est > this.#o.maxBytes) {
      this.#full();
      return false;
    }
    this.#addedBytes += est;
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
    const { store, name, log } = this.#o;
    let wait = RETRY_MIN_MS;
    while (!this.#stopped) {
      try {
        const own = await store.get(name);
        this.#rv = own?.resourceVersion;
        const replayed = this.#replay(own, undefined);
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
          this.#timer = this.#o.clock.setTimeout(resolve, wait);
        });
        this.#timer = undefined;
        wait = Math.min(RETRY_MAX_MS, wait * 2);
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
    const listed = new Set<string>();
    for (const j of journals) {
      listed.add(j.name);
      const prev = this.#seen.get(j.name);
      if (!prev || prev.resourceVersion !== j.resourceVersion) {
        this.#seen.set(j.name, { resourceVersion: j.resourceVersion, changedMono: now });
      }
    }
    for (const n of [...this.#seen.keys()]) if (!listed.has(n)) this.#seen.delete(n);
    for (const j of journals) {
      if (this.#stopped) return;
      if (j.name === name || this.#orphans.has(j.name) || alive(j.lease)) continue;
      // A replica with changes in its journal rewrites it every interval: one whose journal
      // changed within the lease duration (by this replica's clock) is alive, whatever its
      // Lease says (a Lease renewal late under load must not have its journal replayed).
      const seen = this.#seen.get(j.name);
      if (!seen || now - seen.changedMono < ORPHAN_QUIET_CHECKS * this.#o.orphanCheckMs) continue;
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
        (w) => this.release(w),
      );
      if (orphan) orphan.outstanding++;
      this.#o.replay(record, wait);
      // Held again here (durable once this journal's write lands); if it does not fit, it is
      // durable once its whisper write lands.
      this.hold(wait, record);
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

  #full(): void {
    this.#o.metrics.journalFallbacks.inc();
    const now = this.#o.clock.monotonic();
    if (now - this.#lastFullLogMono < FULL_LOG_EVERY_MS) return;
    this.#lastFullLogMono = now;
    this.#o.log.warn(
      {
        journal: this.#o.name,
        bytes: this.#renderedBytes,
        maxBytes: this.#o.maxBytes,
        entries: this.#held.size,
      },
      `journal ${this.#o.name} is full (${this.#renderedBytes} of --journal-max-bytes ${this.#o.maxBytes}): counted batches wait for their whisper writes (slower acks, nothing lost). Whisper writes are behind the budget: raise --write-qps, or --journal-max-bytes (under 1 MiB)`,
    );
  }

  #schedule(): void {
    if (!this.#ready || this.#stopped || !this.#dirty || this.#running || this.#timer) return;
    const now = this.#o.clock.monotonic();
    const due = Math.max(this.#lastWriteMono + this.#o.intervalMs, this.#notBefore);
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
    const { store, name, lease, metrics, log, clock } = this.#o;
    try {
      if (!final) await this.#o.acquire();
    } catch {
      return; // the budget closed: the writer is stopping
    }
    this.#dirty = false;
    let included = [...this.#held.values()];
    let jsonBytes = 0;
    const render = () => {
      const json = encodeJournal(included.map((h) => h.record));
      jsonBytes = json.length;
      return gzipSync(json, { level: 1 });
    };
    let data = render();
    while (data.length > this.#o.maxBytes) {
      // Estimates are upper bounds, so this is not expected; stay valid if it happens: the
      // newest half of what no write holds yet waits for its whisper writes instead.
      const droppable = included.filter((h) => !h.journaled);
      if (droppable.length === 0) break;
      const drop = new Set(droppable.slice(Math.floor(droppable.length / 2)));
      for (const h of drop) {
        this.#held.delete(h.holder);
        this.#o.metrics.journalFallbacks.inc();
      }
      included = included.filter((h) => !drop.has(h));
      data = render();
    }
    this.#renderedBytes = data.length;
    if (jsonBytes > 4096) this.#ratio = Math.min(1, Math.max(0.1, (data.length / jsonBytes) * 1.25));
    this.#addedBytes = 0;
    const started = clock.monotonic();
    try {
      this.#rv = await store.put(name, lease, data, this.#rv);
      metrics.journalWriteDuration.observe((clock.monotonic() - started) / 1000);
      metrics.journalWrites.inc({ outcome: "success" });
      this.#failures = 0;
      this.#notBefore = 0;
      for (const h of included) {
        if (h.journaled || this.#held.get(h.holder) !== h) continue;
        h.journaled = true;
        h.holder.journaled();
      }
    } catch (err) {
      this.#dirty = true;
      const code = statusOf(err);
      metrics.journalWrites.inc({
        outcome: code === 409 ? "conflict" : code === 404 ? "not_found" : "error",
      });
      if (code === 404) this.#rv = undefined;
      else if (code === 409) {
        // Created meanwhile (our own create whose response was lost), or touched by a replica that
        // took it for orphaned: write over it from its current version (what it held is held here).
        this.#rv = (await store.get(name).catch(() => undefined))?.resourceVersion;
      }
      this.#failures++;
      this.#notBefore = clock.monotonic() + Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.#failures - 1));
      if (code !== 409 && code !== 404) {
        log.warn(
          { err: String(err), journal: name, failures: this.#failures },
          `journal write to ConfigMap ${name} failed; counted batches wait for it or for their whisper writes. Check the API server and the aggregator's RBAC for configmaps (create, update)`,
        );
      }
    } finally {
      this.#lastWriteMono = clock.monotonic();
    }
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
    const { store, name, log } = this.#o;
    if (this.#held.size === 0) {
      if (this.#rv === undefined) return;
      try {
        await store.delete(name, this.#rv);
        log.info({ journal: name }, `journal ${name} is empty: deleted`);
      } catch (err) {
        log.warn(
          { err: String(err), journal: name },
          `could not delete this replica's empty journal ${name}; another replica deletes it once this one's Lease expires`,
        );
      }
      return;
    }
    if (this.#dirty) await this.#write(true);
    log.warn(
      { journal: name, entries: this.#held.size },
      `stopped with ${this.#held.size} counted change(s) not written to their whispers: kept in journal ${name} for this replica's next start or another replica to replay`,
    );
  }
}
