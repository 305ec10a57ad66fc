// The CR writer: coalesces changes per object (latest wins), limits the write rate
// globally (token bucket) and per object (minimum interval), retries with backoff.
//
// Invariants:
// - at most one write in flight per object; changes arriving meanwhile make it dirty and
//   are written by the next write;
// - a submit's waiter is answered after the next *successful* write of its object that was
//   rendered after the change (the body is rendered after the token is taken, so waiting
//   for a token coalesces too); it is answered with the reason when the write fails for good
//   or the change is shed, and rejected only when the writer stops;
// - an object is written at most once per minIntervalMs, except its first write and
//   escalations (severity up, resolved → active again), which are due at once; all writes
//   take a token from the one global bucket, handed out fairly (fair-budget.ts): retries and
//   first attempts in separate lanes, the nodes whose batches wait taking turns.
//
// The parts, each with its own file:
// - this file: the objects held — a change taken into its object's entry (write-entry.ts):
//   admitted or shed, coalesced, escalated —, the watch's copies, stop;
// - write-schedule.ts: when each object's write is due, the writes in flight and what their
//   end answers, the flush at stop;
// - write-capacity.ts, write-holdings.ts, held-bytes.ts: the bounds on objects and bytes held,
//   and who is shed when full (the node holding the most); write-eviction.ts: objects idle
//   for idleEvictMs (an hour) are forgotten;
// - write-pressure.ts: before the byte bound is reached, tells the stream to stop reading from
//   the agents with the most in flight (backpressure; shedding is the last resort);
// - write-attempt.ts: one write of one object (GET, spec apply, status apply) and its lane,
//   and how a copy of a whisper the watch delivered is taken in (observed());
// - write-failure.ts: what a failed write means (permanent: answered and forgotten;
//   conflict, gone, transient: retried with backoff);
// - write-waiter.ts: what waits and what it is answered with.
import type { PendingBytesPressure } from "../types/index.ts";
import { FairBudget, FairReads } from "./fair-budget.ts";
import type { KObj } from "./types.ts";
import { type AttemptContext, observeFromWatch, type WatchResult } from "./write-attempt.ts";
import { Capacity, type HeldObjects, ShedError, type ShedOutcome } from "./write-capacity.ts";
import { writerCensus } from "./write-census.ts";
import { abandon, attachWaiter, type Entry, newEntry } from "./write-entry.ts";
import { IdleEviction } from "./write-eviction.ts";
import { WriteFailures } from "./write-failure.ts";
import { Holdings } from "./write-holdings.ts";
import { FIRST_READS_IN_FLIGHT, type WriterOptions } from "./write-options.ts";
import { WritePressure } from "./write-pressure.ts";
import { WriteSchedule } from "./write-schedule.ts";
import { type Doc, WriterStoppedError, type WriteWaiter } from "./write-waiter.ts";

export { NAMESPACE_GONE_MS } from "./write-failure.ts";
export { FIRST_READS_IN_FLIGHT, type WriterOptions } from "./write-options.ts";
export { type Doc, type WriteOutcome, WriterStoppedError, type WriteWaiter } from "./write-waiter.ts";

export class CrWriter {
  #o: WriterOptions;
  #entries = new Map<string, Entry>();
  #eviction: IdleEviction;
  #budget: FairBudget;
  #attempt: AttemptContext;
  #failures: WriteFailures;
  #holdings = new Holdings();
  #capacity: Capacity;
  #pressure: WritePressure | undefined;
  #census = writerCensus(this.#entries);
  #writes: WriteSchedule;
  /** What the bounds may do to the entries (write-capacity.ts). */
  #held: HeldObjects = {
    entries: this.#entries,
    forget: (e) => this.#forget(e),
    shed: (e, outcome) => this.#shedEntry(e, outcome),
  };

  constructor(options: WriterOptions) {
    this.#o = options;
    this.#budget = new FairBudget(options.bucket);
    this.#attempt = {
      client: options.client,
      clock: options.clock,
      log: options.log,
      metrics: options.metrics,
      budget: this.#budget,
      reads: new FairReads(FIRST_READS_IN_FLIGHT),
      ...(options.onCreated ? { onCreated: options.onCreated } : {}),
    };
    this.#failures = new WriteFailures(options.clock, options.log);
    this.#capacity = new Capacity(
      { clock: options.clock, log: options.log, maxObjects: options.maxObjects, maxBytes: options.maxBytes },
      this.#holdings,
    );
    if (options.maxBytes !== undefined) {
      this.#pressure = new WritePressure({ holdings: this.#holdings, maxBytes: options.maxBytes });
    }
    this.#writes = new WriteSchedule({
      clock: options.clock,
      minIntervalMs: options.minIntervalMs,
      attempt: this.#attempt,
      failures: this.#failures,
      objects: {
        entries: this.#entries,
        pending: () => this.pending,
        forget: (e) => this.#forget(e),
        ended: (e) => {
          if (this.#entries.get(e.key) === e) this.#holdings.update(e);
          this.#pressure?.check();
        },
      },
    });
    this.#eviction = new IdleEviction({
      clock: options.clock,
      idleEvictMs: options.idleEvictMs,
      held: this.#held,
      swept: () => this.#pressure?.check(),
    });
    const { waiters, ...gauges } = this.#census;
    Object.assign(options.metrics.sources, gauges);
  }

  /** Objects with changes not yet written. */
  get pending(): number {
    return this.#census.pendingObjects();
  }

  /** Batches (waiters) waiting for their objects' next write. */
  get waiters(): number {
    return this.#census.waiters();
  }

  /** Objects whose last write failed and that wait to retry (stuck when this stays up). */
  get retrying(): number {
    return this.#census.retryingObjects();
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Whether a change to object `key` can only fail for good if something is deleted meanwhile:
   * an object of its namespace was read or written as existing, and no write has found the
   * namespace missing since (write-failure.ts). The journal holds only such changes (ADR 0014),
   * so an ack it answers never hides a drop a first write would have found.
   */
  namespaceKnown(key: string, namespace: string): boolean {
    if (this.#failures.namespaceKnown(namespace)) return true;
    const entry = this.#entries.get(key);
    if (entry?.loaded !== true || !entry.exists) return false;
    this.#failures.namespaceExists(namespace);
    return true;
  }

  /** Estimated bytes the objects hold (what --max-pending-bytes bounds). */
  get heldBytes(): number {
    return this.#holdings.total;
  }

  /**
   * Whether the stream should stop reading from the agents with the most in flight, because
   * the writer holds too many bytes (write-pressure.ts); undefined without --max-pending-bytes.
   */
  get pressure(): PendingBytesPressure | undefined {
    return this.#pressure;
  }

  /**
   * A token of the write budget for this replica's journal write (aggregator/journal), served
   * before every other lane: counted acks wait for it (ADR 0014).
   */
  journalToken(): Promise<void> {
    return this.#budget.acquire("journal", "journal");
  }

  /** Starts forgetting idle objects (write-eviction.ts). */
  start(): void {
    this.#eviction.start();
  }

  /**
   * Applies `change` to the object under `key` (created by `create` on first touch); `change`
   * returns true for an escalation, which skips the per-object minimum interval, and runs
   * before submit returns. `waiter` is answered after the write that carries the change
   * (resolve), or rejected with WriterStoppedError when the writer stops first (the pipeline
   * passes its per-(batch, object) record).
   */
  submit<D extends Doc>(
    key: string,
    create: () => D,
    change: (doc: D) => boolean,
    waiter: WriteWaiter,
  ): void {
    if (this.#writes.stopped) {
      waiter.reject(new WriterStoppedError());
      return;
    }
    let entry = this.#entries.get(key);
    if (!entry && !this.#capacity.admit(this.#held, waiter.source ?? "", key)) {
      waiter.resolve("shed");
      return;
    }
    if (!entry && this.#failures.namespaceGone(key)) {
      waiter.resolve("namespace_not_found");
      return;
    }
    if (!entry) {
      entry = newEntry(key, create(), {
        initialMs: this.#o.retryInitialMs ?? 500,
        maxMs: this.#o.retryMaxMs ?? 30_000,
      });
      this.#entries.set(key, entry);
    } else if (entry.dirty) {
      this.#o.metrics.writesCoalesced.inc({ kind: entry.doc.kind });
    }
    if (change(entry.doc as D)) entry.escalate = true;
    if (!entry.dirty) entry.dirtySinceMono = this.#o.clock.monotonic();
    entry.dirty = true;
    entry.lastTouchMono = this.#o.clock.monotonic();
    if (entry.waiters.length === 0) entry.source = waiter.source ?? "";
    attachWaiter(entry, waiter);
    this.#holdings.update(entry);
    this.#writes.schedule(entry);
    if (this.#capacity.enforceBytes(this.#held) > 0) this.#writes.checkIdle();
    this.#pressure?.check();
  }

  /**
   * A KernelWhisper as the watch delivered it (whisper-watch.ts): taken in when this writer
   * holds the object and the copy is newer than its own, unless a request of the object is on
   * the wire (write-attempt.ts observeFromWatch says what happens then).
   */
  observed(object: KObj): WatchResult | "not_held" {
    const meta = object.metadata;
    const entry = this.#entries.get(`KernelWhisper/${meta?.namespace}/${meta?.name}`);
    if (!entry || this.#writes.stopped) return "not_held";
    const result = observeFromWatch(this.#attempt, entry, object);
    if (result === "merged") this.#holdings.update(entry); // the ledger read may differ in size
    return result;
  }

  /** Forgets an object (re-read on its next change). */
  #forget(entry: Entry): void {
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    this.#holdings.remove(entry);
  }

  /** Answers every batch waiting on `entry` with `outcome` and forgets it. */
  #shedEntry(entry: Entry, outcome: ShedOutcome): number {
    const waiting = abandon(entry, this.#o.clock, new ShedError(`${entry.key} was shed`));
    this.#forget(entry);
    for (const w of waiting) w.resolve(outcome);
    return waiting.length;
  }

  /** Resolves when no write is in flight (some may still be scheduled): tests on a ManualClock. */
  settled(): Promise<void> {
    return this.#writes.settled();
  }

  /** Resolves when nothing is pending. */
  idle(): Promise<void> {
    return this.#writes.idle();
  }

  /**
   * Writes everything pending at once (ignoring the per-object interval, still within the
   * global rate) and waits up to `deadlineMs`; what is still unwritten then is rejected
   * with WriterStoppedError (the agents resend it to another replica).
   */
  async stop(deadlineMs: number): Promise<void> {
    await this.#writes.flush(deadlineMs);
    this.#eviction.stop();
    this.#budget.close(new WriterStoppedError());
    this.#capacity.stop();
    const left = this.#writes.close();
    if (left > 0)
      this.#o.log.warn({ objects: left }, "stopped with unwritten changes; agents will resend them");
  }
}
