// A whisper's occurrences seen by this replica and not yet written, kept per delivery tag
// (one agent batch; "" = untagged, from agents without an instance id). Per tag because a
// re-read object may already hold some batches (written by another replica, or by our own
// write whose response was lost): those are dropped whole, the rest stays to be written.
import { type DeliveryLedger, type DeliveryTag, tagKey } from "./ledger.ts";

interface Bucket {
  tag: DeliveryTag | undefined;
  events: number;
  total: number;
  pods: Map<string, number>;
}

/** What one write carries, per tag key: taken at render time, committed after success. */
export type PendingSnapshot = Map<string, { total: number; pods: Map<string, number> }>;

/** Tags remembered as dropped on a re-read (for the ack's `dropped` count). */
const DROPPED_MEMORY = 1024;

export class PendingCounts {
  #buckets = new Map<string, Bucket>();
  #dropped = new Set<string>();

  /** Occurrences not yet written. */
  get total(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.total;
    return n;
  }

  has(tag: DeliveryTag): boolean {
    return this.#buckets.has(tagKey(tag));
  }

  /** Adds one event (standing for `count` occurrences in pod `uid`) under `tag`. */
  add(tag: DeliveryTag | undefined, uid: string, count: number): void {
    const key = tag ? tagKey(tag) : "";
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { tag, events: 0, total: 0, pods: new Map() };
      this.#buckets.set(key, bucket);
    }
    bucket.events++;
    bucket.total += count;
    bucket.pods.set(uid, (bucket.pods.get(uid) ?? 0) + count);
  }

  /** Tags pending here (they go into the ledger of the next write). */
  tags(): DeliveryTag[] {
    return [...this.#buckets.values()].flatMap((b) => (b.tag ? [b.tag] : []));
  }

  /**
   * Drops the batches `ledger` already holds; returns how many events that was and the
   * occurrences it removes per pod.
   */
  dropHeldBy(ledger: DeliveryLedger): { events: number; pods: Map<string, number> } {
    const pods = new Map<string, number>();
    let events = 0;
    for (const [key, bucket] of this.#buckets) {
      if (!bucket.tag || !ledger.has(bucket.tag)) continue;
      this.#buckets.delete(key);
      this.#dropped.add(key);
      if (this.#dropped.size > DROPPED_MEMORY) {
        this.#dropped.delete(this.#dropped.values().next().value as string);
      }
      events += bucket.events;
      for (const [uid, n] of bucket.pods) pods.set(uid, (pods.get(uid) ?? 0) + n);
    }
    return { events, pods };
  }

  /** The batch was dropped on a re-read because the object already counted it. */
  wasDropped(tag: DeliveryTag): boolean {
    return this.#dropped.has(tagKey(tag));
  }

  snapshot(): PendingSnapshot {
    return new Map([...this.#buckets].map(([key, b]) => [key, { total: b.total, pods: new Map(b.pods) }]));
  }

  /** A write carrying `written` succeeded: its tagged batches join `ledger`. */
  commit(written: PendingSnapshot, ledger: DeliveryLedger): void {
    for (const [key, w] of written) {
      const bucket = this.#buckets.get(key);
      if (!bucket) continue;
      bucket.total -= w.total;
      for (const [uid, n] of w.pods) bucket.pods.set(uid, (bucket.pods.get(uid) ?? 0) - n);
      if (bucket.tag) {
        ledger.add(bucket.tag);
        this.#buckets.delete(key);
      } else if (bucket.total === 0) {
        this.#buckets.delete(key);
      }
    }
  }
}
