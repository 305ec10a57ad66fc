// One agent batch between "folded into its objects' pending state" and "acked".
//
// What a waiting batch keeps is small and does not grow with its events' content: a counter
// of what it still waits for (object writes, and earlier batches it resent events of), the
// count of events that will not be written, its events' ids (strings only, for redelivery
// dedup) and the promise its stream handler awaits. The decoded events are released once
// folded; each object's pending write holds one ObjectWait per (batch, object), not one
// promise per event (object-waits.ts).
import type { WriteOutcome } from "../emit/writer.ts";

export class PendingBatch {
  readonly promise: Promise<{ dropped: number }>;
  /** Event ids this batch is the first to process (in the pipeline's in-flight map). */
  readonly ids: string[] = [];
  /** Events that will not be written (invalid, redelivered): reported with the ack. */
  dropped = 0;
  /** Events found in flight in an earlier batch: counted as redeliveries once that one is done. */
  #followers: { batch: PendingBatch; events: number }[] | undefined;
  /** Starts at 1: the preparation itself, released by sealed(). */
  #remaining = 1;
  #done = false;
  #resolve!: (value: { dropped: number }) => void;
  #reject!: (err: unknown) => void;
  #onSettled: (batch: PendingBatch, err: unknown) => void;

  /** The node the batch came from: object writes take turns by source (emit/fair-budget.ts). */
  readonly source: string;

  /** `onSettled` runs once, before the promise settles: err undefined on success. */
  constructor(onSettled: (batch: PendingBatch, err: unknown) => void, source = "") {
    this.#onSettled = onSettled;
    this.source = source;
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  get done(): boolean {
    return this.#done;
  }

  /** One more thing to wait for (an object write, an earlier batch). */
  hold(): void {
    this.#remaining++;
  }

  /** One awaited thing finished. */
  release(): void {
    if (this.#done) return;
    if (--this.#remaining > 0) return;
    this.#done = true;
    this.#onSettled(this, undefined);
    for (const f of this.#followers ?? []) f.batch.#redeliveredBy(f.events);
    this.#followers = undefined;
    this.#resolve({ dropped: this.dropped });
  }

  /** Everything the batch waits for was handed out. */
  sealed(): void {
    this.release();
  }

  fail(err: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#onSettled(this, err);
    for (const f of this.#followers ?? []) f.batch.fail(err);
    this.#followers = undefined;
    this.#reject(err);
  }

  /**
   * `later` resent `events` of this batch's events while this batch was still being written:
   * it waits for this one and then counts them as dropped redeliveries.
   */
  follow(later: PendingBatch, events: number): void {
    later.hold();
    const followers = this.#followers ?? [];
    const same = followers.find((f) => f.batch === later);
    if (same) {
      same.events += events;
      later.release(); // already holding for this batch
    } else followers.push({ batch: later, events });
    this.#followers = followers;
  }

  /** Set by the pipeline: how a redelivery found in flight is counted. */
  onRedelivered: ((events: number) => void) | undefined;
  /** Set by the pipeline: how events whose object failed for good are counted. */
  onDropped: ((reason: Exclude<WriteOutcome, "written">, events: number) => void) | undefined;

  #redeliveredBy(events: number): void {
    this.dropped += events;
    this.onRedelivered?.(events);
    this.release();
  }
}
