// The delivery window: batches sent and not yet acknowledged, in sequence order (a Map keeps
// insertion order and sequence numbers only grow). Each keeps its encoded frame, so a resend
// after a reconnect puts the very same bytes on the wire. The window does the bookkeeping of
// an ack (delivered count, send→ack latency, one audit line per event) and of a drop.
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import {
  decodeEnvelope,
  type EventType,
  eventType,
  fillFromPodTable,
  type WireEvent,
} from "../../shared/proto.ts";
import { encodeBatchFrame } from "./encode.ts";
import type { LinkMetrics } from "./metrics.ts";
import type { BatchJournal } from "./ports.ts";

export interface PendingBatch {
  seq: number;
  frame: Uint8Array;
  events: number;
  types: Partial<Record<EventType, number>>;
  /** Event id, SHA-256 of its encoded payload and the occurrences it carries (dedup count), logged as the audit line on ack. */
  audit: [id: string, sha256: string, count: number][];
  /** Monotonic ms of the first send (send→ack latency spans resends). */
  firstSentAt?: number;
  /** The frame uses Batch.pods: only for an aggregator that announced batch-pod-table. */
  podTable: boolean;
}

export function buildBatch(
  seq: number,
  events: WireEvent[],
  nowMs: number,
  options: { podTable?: boolean } = {},
): PendingBatch {
  const types: Partial<Record<EventType, number>> = {};
  const { frame, sha256, tablePods } = encodeBatchFrame(seq, events, nowMs, options);
  const audit: [string, string, number][] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as WireEvent;
    const type = eventType(event);
    types[type] = (types[type] ?? 0) + 1;
    audit[i] = [event.id ?? "", sha256[i] as string, event.count || 1];
  }
  return { seq, frame, events: events.length, types, audit, podTable: tablePods > 0 };
}

/**
 * Re-encodes a batch framed with a pod table so every event carries its full pod again, for an
 * aggregator that has not announced batch-pod-table (a resend after reconnecting, perhaps to an
 * older replica). Same seq, sent_at_ms, events and audit hashes; only the frame changes.
 */
export function withFullPodRefs(batch: PendingBatch): void {
  if (!batch.podTable) return;
  const decoded = decodeEnvelope(batch.frame).batch;
  const events = decoded?.events ?? [];
  const problem = fillFromPodTable(decoded?.pods ?? [], events);
  if (problem) throw new Error(`batch ${batch.seq} cannot be re-encoded with full pod refs: ${problem}`);
  batch.frame = encodeBatchFrame(batch.seq, events, decoded?.sentAtMs ?? 0).frame;
  batch.podTable = false;
}

/**
 * A batch read back from the journal after a restart, ready to resend with full pod refs (the
 * new connection's aggregator has not announced pod tables yet). Same seq, sent_at_ms, events.
 */
export function recoveredBatch(seq: number, frame: Uint8Array): PendingBatch {
  const decoded = decodeEnvelope(frame).batch;
  const events = decoded?.events ?? [];
  const problem = fillFromPodTable(decoded?.pods ?? [], events);
  if (problem) throw new Error(`spooled batch ${seq} cannot be re-encoded: ${problem}`);
  return buildBatch(seq, events, Number(decoded?.sentAtMs ?? 0));
}

export class DeliveryWindow {
  #batches = new Map<number, PendingBatch>();
  #nextSeq = 1;
  #delivered = 0;
  #lastAckedSeq = 0;
  #clock: Clock;
  #metrics: LinkMetrics;
  #audit: Logger;
  #journal: BatchJournal | undefined;

  constructor(deps: {
    clock: Clock;
    metrics: LinkMetrics;
    audit: Logger;
    journal?: BatchJournal | undefined;
  }) {
    this.#clock = deps.clock;
    this.#metrics = deps.metrics;
    this.#audit = deps.audit;
    this.#journal = deps.journal;
    if (deps.journal) this.#nextSeq = Math.max(1, deps.journal.nextSeq);
  }

  /** Takes back a batch from the journal (agent restart): it is resent before anything new. */
  restore(batch: PendingBatch): void {
    this.#batches.set(batch.seq, batch);
    this.#nextSeq = Math.max(this.#nextSeq, batch.seq + 1);
    this.#metrics.unackedBatches.set(this.#batches.size);
  }

  get size(): number {
    return this.#batches.size;
  }

  /** Events acknowledged so far. */
  get delivered(): number {
    return this.#delivered;
  }

  /** Highest sequence number acknowledged (Hello's resume point). */
  get lastAckedSeq(): number {
    return this.#lastAckedSeq;
  }

  /** Numbers the events as the next batch and holds it until acked or dropped. */
  open(events: WireEvent[], options: { podTable?: boolean } = {}): PendingBatch {
    const batch = buildBatch(this.#nextSeq++, events, this.#clock.now(), options);
    // On disk before it is on the wire: a crash after the send cannot lose it.
    this.#journal?.append(batch.seq, batch.frame, events);
    this.#batches.set(batch.seq, batch);
    this.#metrics.unackedBatches.set(this.#batches.size);
    return batch;
  }

  /** Called for every write of the batch, resends included. */
  sent(batch: PendingBatch): void {
    batch.firstSentAt ??= this.#clock.monotonic();
    this.#metrics.batchesSent.inc();
  }

  /** Releases an acknowledged batch; undefined when it was no longer pending. */
  ack(seq: number): PendingBatch | undefined {
    const batch = this.#batches.get(seq);
    if (!batch) return undefined;
    this.#batches.delete(seq);
    this.#journal?.settle(seq);
    this.#metrics.unackedBatches.set(this.#batches.size);
    this.#metrics.eventsDelivered.inc(batch.events);
    if (batch.firstSentAt !== undefined) {
      this.#metrics.sendLatency.observe((this.#clock.monotonic() - batch.firstSentAt) / 1000);
    }
    this.#delivered += batch.events;
    this.#lastAckedSeq = Math.max(this.#lastAckedSeq, seq);
    for (const [id, sha256, count] of batch.audit) {
      this.#audit.info({ audit: "delivered", id, sha256, seq, count }, "event delivered");
    }
    return batch;
  }

  /**
   * Gives up on a batch, counting its events as dropped with `cause`. A batch let go at
   * shutdown stays in the journal (resent after the restart) and is not counted as dropped.
   */
  drop(batch: PendingBatch, cause: "rejected" | "shutdown"): void {
    if (!this.#batches.delete(batch.seq)) return;
    if (this.#journal) {
      if (cause === "shutdown") {
        this.#metrics.unackedBatches.set(this.#batches.size);
        return;
      }
      this.#journal.settle(batch.seq);
    }
    this.#metrics.unackedBatches.set(this.#batches.size);
    for (const [type, n] of Object.entries(batch.types)) this.#metrics.eventsDropped.inc({ type, cause }, n);
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
}
