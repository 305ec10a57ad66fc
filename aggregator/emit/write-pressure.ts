// Backpressure before shedding (issue #12): from the moment the writer's objects hold more
// than HIGH_WATER of --max-pending-bytes until they hold less than LOW_WATER, the writer is
// "pressing": the stream stops reading from every agent whose batches in flight (received,
// not yet acked) exceed its share of the headroom left (the bound minus HIGH_WATER, divided
// among the connections), and reads them again when the pressing ends. A paused agent keeps
// its unacked batches in its spool and stops sending when its window is full: nothing is
// lost, an overloaded cluster only slows down, a flooding node stalls itself while nodes
// under their share carry on. Shedding (write-capacity.ts) stays the last resort, for bytes
// that still arrive past the bound.
//
// The share is by connection and batches in flight, not by the bytes an object is charged
// to (write-holdings.ts): one workload's throttle whisper collects the waiting batches of
// hundreds of nodes but is charged to the node that opened its write, and pausing that one
// node would not stop the others (measured: BENCHMARKS.md "scale-out diagnostic").
import type { PendingBytesPressure } from "../types/index.ts";
import type { Holdings } from "./write-holdings.ts";

/** Pressing starts above this share of --max-pending-bytes… */
export const HIGH_WATER = 0.7;
/** …and ends below this share. */
export const LOW_WATER = 0.5;

export class WritePressure implements PendingBytesPressure {
  readonly maxBytes: number;
  #holdings: Holdings;
  #pressing = false;
  #listeners: (() => void)[] = [];

  constructor(options: { holdings: Holdings; maxBytes: number }) {
    this.#holdings = options.holdings;
    this.maxBytes = options.maxBytes;
  }

  get headroomBytes(): number {
    return this.maxBytes * (1 - HIGH_WATER);
  }

  heldBytes(): number {
    return this.#holdings.total;
  }

  pressing(): boolean {
    return this.#pressing;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** After the writer's bytes changed: starts or ends the pressing. O(1). */
  check(): void {
    const total = this.#holdings.total;
    const pressing = this.#pressing ? total >= this.maxBytes * LOW_WATER : total > this.maxBytes * HIGH_WATER;
    if (pressing === this.#pressing) return;
    this.#pressing = pressing;
    for (const listener of this.#listeners) listener();
  }
}
