// This replica's journal ConfigMap as this process reads, writes and deletes it (ADR 0014);
// index.ts decides what the journal holds and when it is written.
//
// - Size: an entry fits when its JSON upper bound, scaled by what gzip made of the last
//   write, still fits under maxBytes (--journal-max-bytes); one that does not is refused and
//   counted, with at most one warn line per FULL_LOG_EVERY_MS. A write renders everything
//   it is given and checks the real size: should it still be over (estimates are upper
//   bounds, so it is not expected), the newest half of what no write holds yet is sent back
//   to its whisper write until it fits.
// - Version: every write carries the resourceVersion last seen (none: create it). A 409
//   (created meanwhile by our own create whose response was lost, or touched by a replica that
//   took it for orphaned) re-reads the version to write over; a 404 creates it again; every
//   failure backs off (jittered, reset by a success), other failures with a warn line.
import { gzipSync } from "node:zlib";
import { Backoff } from "../../shared/backoff.ts";
import type { Clock } from "../../shared/clock.ts";
import { statusOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import { encodeJournal, estimateBytes, type JournalRecord } from "./format.ts";
import type { JournalMetrics } from "./metrics.ts";
import type { JournalStore, StoredJournal } from "./store.ts";

export const RETRY_MIN_MS = 500;
export const RETRY_MAX_MS = 30_000;
const FULL_LOG_EVERY_MS = 60_000;

export interface JournalWritesOptions {
  store: JournalStore;
  /** This replica's journal (store.ts journalName). */
  name: string;
  /** This replica's write-budget Lease, annotated on the journal. */
  lease: string;
  maxBytes: number;
  clock: Clock;
  log: Logger;
  metrics: JournalMetrics;
}

/** What a write is given: an entry held, and whether a write that landed holds it already. */
export interface Written {
  record: JournalRecord;
  journaled: boolean;
}

export class JournalWrites {
  #o: JournalWritesOptions;
  /** The own ConfigMap's resourceVersion; undefined: create it. */
  #rv: string | undefined;
  #lastWriteMono = Number.NEGATIVE_INFINITY;
  #notBefore = 0;
  /** Delays after failed writes (reset by a success). */
  #backoff = new Backoff({ initialMs: RETRY_MIN_MS, maxMs: RETRY_MAX_MS });
  #renderedBytes = 0;
  /** Gzipped / JSON bytes of the last write (at most 1). */
  #ratio = 1;
  /** Upper bound of what was held since the last render. */
  #addedBytes = 0;
  #lastFullLogMono = Number.NEGATIVE_INFINITY;

  constructor(options: JournalWritesOptions) {
    this.#o = options;
  }

  /** Bytes of the journal as last rendered. */
  get bytes(): number {
    return this.#renderedBytes;
  }

  /** Monotonic ms before which the next write is not due: `intervalMs` after the last, not before a retry's backoff ends. */
  dueAt(intervalMs: number): number {
    return Math.max(this.#lastWriteMono + intervalMs, this.#notBefore);
  }

  /** Reads this replica's journal as the previous process left it (undefined: there is none). */
  async read(): Promise<StoredJournal | undefined> {
    const own = await this.#o.store.get(this.#o.name);
    this.#rv = own?.resourceVersion;
    return own;
  }

  /** Whether `record` fits beside the `entries` held; if it does, the next render counts it. */
  fits(record: JournalRecord, entries: number): boolean {
    // The JSON upper bound scaled by what gzip made of the last write (the write itself checks
    // the real size and sends what does not fit back to its whisper write).
    const est = Math.ceil(estimateBytes(record) * this.#ratio);
    if (this.#renderedBytes + this.#addedBytes + est > this.#o.maxBytes) {
      this.#full(entries);
      return false;
    }
    this.#addedBytes += est;
    return true;
  }

  #full(entries: number): void {
    const { metrics, clock, log, name, maxBytes } = this.#o;
    metrics.journalFallbacks.inc();
    const now = clock.monotonic();
    if (now - this.#lastFullLogMono < FULL_LOG_EVERY_MS) return;
    this.#lastFullLogMono = now;
    log.warn(
      { journal: name, bytes: this.#renderedBytes, maxBytes, entries },
      `journal ${name} is full (${this.#renderedBytes} of --journal-max-bytes ${maxBytes}): counted batches wait for their whisper writes (slower acks, nothing lost). Whisper writes are behind the budget: raise --write-qps, or --journal-max-bytes (under 1 MiB)`,
    );
  }

  /**
   * Writes `held`, less what does not fit (each passed to `dropped`, which lets it go);
   * `landed` is given what the write holds once it landed. False when it failed (retry after
   * dueAt).
   */
  async write<H extends Written>(
    held: H[],
    on: { dropped: (h: H) => void; landed: (included: H[]) => void },
  ): Promise<boolean> {
    const { store, name, lease, metrics, log, clock } = this.#o;
    let included = held;
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
        on.dropped(h);
        metrics.journalFallbacks.inc();
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
      this.#backoff.reset();
      this.#notBefore = 0;
      on.landed(included);
      return true;
    } catch (err) {
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
      this.#notBefore = clock.monotonic() + this.#backoff.next();
      if (code !== 409 && code !== 404) {
        log.warn(
          { err: String(err), journal: name, failures: this.#backoff.attempt },
          `journal write to ConfigMap ${name} failed; counted batches wait for it or for their whisper writes. Check the API server and the aggregator's RBAC for configmaps (create, update)`,
        );
      }
      return false;
    } finally {
      this.#lastWriteMono = clock.monotonic();
    }
  }

  /** Deletes the journal, empty at stop, if it exists (a write or the read at start found it). */
  async delete(): Promise<void> {
    const { store, name, log } = this.#o;
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
  }
}
