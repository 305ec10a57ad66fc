// Batches sent and not yet acknowledged, in sequence order (a Map keeps insertion order and
// sequence numbers only grow). Each keeps its encoded frame, so a resend after a reconnect
// puts the very same bytes on the wire, plus what the metrics and the audit log need.
import { createHash } from "node:crypto";
import { encodeEnvelope, type WireEvent, wire } from "../../shared/proto.ts";
import { type EventType, eventType } from "./event-type.ts";

export interface PendingBatch {
  seq: number;
  frame: Uint8Array;
  events: number;
  types: Partial<Record<EventType, number>>;
  /** Event id and SHA-256 of its encoded payload, logged as the audit line on ack. */
  audit: [id: string, sha256: string][];
  /** Monotonic ms of the first send (send→ack latency spans resends). */
  firstSentAt?: number;
}

export function buildBatch(seq: number, events: WireEvent[], nowMs: number): PendingBatch {
  const types: Partial<Record<EventType, number>> = {};
  const audit: [string, string][] = [];
  for (const event of events) {
    const type = eventType(event);
    types[type] = (types[type] ?? 0) + 1;
    const payload = wire.Event.encode(event).finish();
    audit.push([event.id ?? "", createHash("sha256").update(payload).digest("hex")]);
  }
  const frame = encodeEnvelope({ batch: { seq, events, sentAtMs: nowMs } });
  return { seq, frame, events: events.length, types, audit };
}

export class UnackedBatches {
  #batches = new Map<number, PendingBatch>();
  #bytes = 0;

  get size(): number {
    return this.#batches.size;
  }

  /** Encoded bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  add(batch: PendingBatch): void {
    this.#batches.set(batch.seq, batch);
    this.#bytes += batch.frame.length;
  }

  remove(seq: number): PendingBatch | undefined {
    const batch = this.#batches.get(seq);
    if (!batch) return undefined;
    this.#batches.delete(seq);
    this.#bytes -= batch.frame.length;
    return batch;
  }

  get(seq: number): PendingBatch | undefined {
    return this.#batches.get(seq);
  }

  /** Oldest first. */
  inOrder(): PendingBatch[] {
    return [...this.#batches.values()];
  }

  largest(): PendingBatch | undefined {
    let best: PendingBatch | undefined;
    for (const batch of this.#batches.values()) {
      if (!best || batch.frame.length > best.frame.length) best = batch;
    }
    return best;
  }

  events(): number {
    let n = 0;
    for (const batch of this.#batches.values()) n += batch.events;
    return n;
  }
}
