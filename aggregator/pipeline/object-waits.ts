// What a batch's waiting looks like on each object it was folded into: the writer keeps one
// waiter per (batch, object) until that object's write (ObjectWait), or, for the folds of named
// throttle episodes acked once folded (ADR 0011), one shared waiter per object between two of
// its writes (StateWait). Each says what it keeps alive (heldBytes, the writer's byte bound) and
// answers its batch (pending-batch.ts) when the write, the fold or the journal lets it go.
import { stringBytes, WAITER_ID, waiterBytes } from "../emit/held-bytes.ts";
import type { DeliveryTag } from "../emit/ledger.ts";
import type { Occurrence, WhisperState } from "../emit/whisper.ts";
import type { WriteOutcome, WriteWaiter } from "../emit/writer.ts";
import type { JournalHolder } from "../journal/index.ts";
import type { PendingBatch } from "./pending-batch.ts";

/**
 * Heap a shared state waiter (StateWait) keeps until its object's write: its record, and per
 * event folded into it a latency timestamp (the batches were acked and let go at the fold; their
 * samples share the object's untagged count bucket). Per batch, with the event's id that moves
 * to the redelivery cache at the ack: ~270 B (aggregator/emit/held-bytes-match-the-heap.test.ts).
 */
const FOLDED_WAITER = 1_600;
const FOLDED_EVENT = 48;

/**
 * One (batch, object) pair waiting for the object's next write: what the writer keeps per
 * submit. `events` of the batch were folded into the object; `observed` holds their
 * node-side timestamps per event type, for the end-to-end latency, as plain numbers.
 *
 * A state object (CPU throttling, ADR 0011) is acknowledged once folded: `ackFolded()`
 * releases the batch at once and the later write only records the latency; the write then
 * takes its token behind the writes an ack waits for (`urgent` false).
 */
export class ObjectWait implements WriteWaiter, JournalHolder {
  /** Until acked once folded (ADR 0011): then the batch is let go, it no longer waits here. */
  #batch: PendingBatch | undefined;
  readonly source: string;
  events = 0;
  observed: Map<string, number[]> | undefined;
  /** The object already held this batch when it was folded (delivery ledger). */
  ledgerHeld = false;
  #doc: WhisperState | undefined;
  #tag: DeliveryTag | undefined;
  #onWritten: (wait: ObjectWait) => void;
  #onDropped: PendingBatch["onDropped"];
  #ackedFolded = false;
  /** Its events' ids, kept by the batch until it is acked (redelivery dedup). */
  #idBytes = 0;
  /**
   * Set when its counted change is held in this replica's journal (ADR 0014): the batch is
   * acked once the journal write lands; the entry leaves the journal once the object is
   * written or the change answered for good.
   */
  journal: { release(holder: JournalHolder): void } | undefined;

  constructor(batch: PendingBatch, onWritten: (wait: ObjectWait) => void) {
    this.#batch = batch;
    this.source = batch.source;
    this.#onWritten = onWritten;
    this.#onDropped = batch.onDropped;
    batch.hold();
  }

  get urgent(): boolean {
    return !this.#ackedFolded;
  }

  /** What this waiter keeps alive until answered (the writer's byte bound, emit/held-bytes.ts). */
  get heldBytes(): number {
    return waiterBytes(this.events, this.#idBytes);
  }

  /** One more event of the batch for this object; `id` its id (kept by the batch). */
  add(type: string, observedAtMs: number, id?: string): void {
    this.events++;
    if (id) this.#idBytes += stringBytes(id) + WAITER_ID;
    if (observedAtMs <= 0) return;
    this.observed ??= new Map();
    const list = this.observed.get(type);
    if (list) list.push(observedAtMs);
    else this.observed.set(type, [observedAtMs]);
  }

  /**
   * The writer's change: folds the batch's occurrences for this object into it in one step
   * (all or none, ADR 0008); true for an escalation. Keeps no reference to the occurrences.
   */
  fold(doc: WhisperState, tag: DeliveryTag | undefined, occurrences: readonly Occurrence[]): boolean {
    this.#doc = doc;
    this.#tag = tag;
    const r = doc.recordBatch(tag, occurrences);
    this.ledgerHeld = r.redelivered;
    return r.escalate;
  }

  /**
   * State folded (ADR 0011): the batch stops waiting for this object's write. What stays until
   * the write is the latency timestamps: the batch (its ids) and the document are let go.
   */
  ackFolded(): void {
    const batch = this.#batch;
    if (this.#ackedFolded || !batch || batch.done) return;
    this.#ackedFolded = true;
    if (this.ledgerHeld) batch.dropped += this.events;
    this.#batch = undefined;
    this.#doc = undefined;
    this.#tag = undefined;
    batch.release();
  }

  /**
   * A journal write holding this counted change landed (ADR 0014): the change survives a crash
   * (replayed into its object), so the batch stops waiting for this object's write; the write
   * still comes in its turn (urgent) and records the latency.
   */
  journaled(): void {
    const batch = this.#batch;
    if (!batch || batch.done) return;
    this.#batch = undefined;
    batch.release();
  }

  /** Its counted change is held in this replica's journal `journal` with `mark` (the whisper's next write carries it). */
  marked(journal: string, mark: number): void {
    if (this.#doc && this.#tag) this.#doc.markJournaled(this.#tag, { journal, mark });
  }

  /** The writer ran the fold (it answers some submits at once without: a gone namespace, shedding). */
  get folded(): boolean {
    return this.#doc !== undefined;
  }

  /** After a write: the object already counted the batch (here, or found on a re-read). */
  #redelivered(): boolean {
    return this.ledgerHeld || this.#doc?.wasRedelivered(this.#tag) === true;
  }

  /** The writer answered it (or rejected it): nothing more comes. */
  get answered(): boolean {
    return this.#answered;
  }
  #answered = false;

  resolve(outcome: WriteOutcome): void {
    this.#answered = true;
    this.journal?.release(this);
    this.journal = undefined;
    const batch = this.#batch;
    if (outcome !== "written") {
      // Counted as dropped whether or not the batch was acked already (state, ADR 0011).
      this.#onDropped?.(outcome, this.events);
      if (batch) batch.dropped += this.events;
    } else if (this.#redelivered()) {
      if (batch) batch.dropped += this.events;
    } else this.#onWritten(this);
    this.observed = undefined;
    this.#batch = undefined;
    batch?.release();
  }

  reject(err: Error): void {
    this.#answered = true;
    // Acked already (no batch): a stopping writer leaves the state unwritten; a journaled
    // change stays in the journal for replay.
    this.#batch?.fail(err);
  }
}

/** Latency timestamps a shared state waiter keeps per event type between two writes. */
const STATE_OBSERVED_MAX = 256;

/**
 * All the folds of named throttle episodes acked once folded (ADR 0011) into one object between
 * two of its writes: one waiter the writer queues once, instead of one per batch. It keeps their
 * event count and (up to STATE_OBSERVED_MAX per type) their node-side times for the end-to-end
 * latency; the batches themselves were acked and let go at the fold.
 */
export class StateWait implements WriteWaiter {
  readonly shared = true;
  readonly urgent = false;
  readonly source: string;
  events = 0;
  observed: Map<string, number[]> | undefined;
  #onWritten: (wait: { observed: Map<string, number[]> | undefined }) => void;
  #onDropped: PendingBatch["onDropped"];
  #onDone: (wait: StateWait) => void;

  constructor(
    source: string,
    onWritten: (wait: { observed: Map<string, number[]> | undefined }) => void,
    onDropped: PendingBatch["onDropped"],
    onDone: (wait: StateWait) => void,
  ) {
    this.source = source;
    this.#onWritten = onWritten;
    this.#onDropped = onDropped;
    this.#onDone = onDone;
  }

  get heldBytes(): number {
    return FOLDED_WAITER + this.events * FOLDED_EVENT;
  }

  /** Takes over what a batch's waiter for this object held (its batch already acked). */
  absorb(wait: ObjectWait): void {
    this.events += wait.events;
    for (const [type, list] of wait.observed ?? []) {
      this.observed ??= new Map();
      const mine = this.observed.get(type) ?? [];
      for (const at of list) if (mine.length < STATE_OBSERVED_MAX) mine.push(at);
      this.observed.set(type, mine);
    }
  }

  /** How the writer answered a submit at once, without folding (read and cleared by the pipeline). */
  answeredAtOnce: WriteOutcome | undefined;

  resolve(outcome: WriteOutcome): void {
    if (this.events === 0) {
      // Queued twice around one write (answered already), or answered at submit.
      this.answeredAtOnce = outcome;
      return;
    }
    if (outcome === "written") this.#onWritten(this);
    else this.#onDropped?.(outcome, this.events);
    this.events = 0;
    this.observed = undefined;
    this.#onDone(this);
  }

  reject(_err: Error): void {
    // Acked already: a stopping writer leaves the state unwritten (the next sample restores it).
    this.events = 0;
    this.observed = undefined;
    this.#onDone(this);
  }
}
