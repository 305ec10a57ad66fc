// The bounded outgoing queue between dedup and the link.
//
// Bounds: `maxEvents` events and `maxBytes` encoded bytes. Overflow policy: the oldest
// throttle samples go first (a later sample of the same signal supersedes them); only if
// the queue is still over its bound do the oldest failures, OOM kills and births go. Every
// drop is counted by type and cause.
//
// Readiness ("latency first, batching under load"): listeners registered with `onReady`
// are told to `take()` when
//  - a full batch (`maxBatchEvents`) is waiting, or
//  - the line is idle (`isLineIdle()`): at once, coalescing one tick's pushes, or
//  - `flushIntervalMs` passed since the first event of a partial batch.
// `take` hands out events oldest first across both lanes.
import type { Clock, Timer } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { eventType, type WireEvent, wire } from "../../shared/proto.ts";
import type { EventSink } from "../types/index.ts";
import type { DropCause, QueueMetrics } from "./metrics.ts";

interface Entry {
  seq: number;
  event: WireEvent;
  bytes: number;
}

/** A FIFO with O(1) amortised shift. */
class Lane {
  #items: Entry[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  peek(): Entry | undefined {
    return this.#items[this.#head];
  }

  push(entry: Entry): void {
    this.#items.push(entry);
  }

  shift(): Entry | undefined {
    const entry = this.#items[this.#head];
    if (entry === undefined) return undefined;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }

  *events(): IterableIterator<WireEvent> {
    for (let i = this.#head; i < this.#items.length; i++) yield (this.#items[i] as Entry).event;
  }
}

export interface OutboxOptions {
  clock: Clock;
  metrics: QueueMetrics;
  log?: Logger;
  maxEvents: number;
  maxBytes: number;
  maxBatchEvents: number;
  flushIntervalMs: number;
  /** Whether the link has nothing in flight; default: always idle. */
  isLineIdle?: () => boolean;
}

/** Encoded size of one event inside a Batch (field tag + length prefix + body). */
export function encodedSize(event: WireEvent): number {
  const body = wire.Event.encode(event).len;
  return body + 1 + (body < 128 ? 1 : body < 16_384 ? 2 : 3);
}

/** Least time between two "queue full" warnings. */
const DROP_LOG_INTERVAL_MS = 30_000;

export class Outbox implements EventSink {
  #clock: Clock;
  #metrics: QueueMetrics;
  #log: Logger | undefined;
  #maxEvents: number;
  #maxBytes: number;
  #maxBatchEvents: number;
  #flushIntervalMs: number;
  #isLineIdle: () => boolean;
  #throttle = new Lane();
  #other = new Lane();
  #bytes = 0;
  #nextSeq = 0;
  #listeners: (() => void)[] = [];
  #timer: Timer | undefined;
  #readySoon = false;
  #dropsUnlogged = 0;
  #lastDropLogAt: number | undefined;

  constructor(options: OutboxOptions) {
    this.#clock = options.clock;
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#maxEvents = options.maxEvents;
    this.#maxBytes = options.maxBytes;
    this.#maxBatchEvents = options.maxBatchEvents;
    this.#flushIntervalMs = options.flushIntervalMs;
    this.#isLineIdle = options.isLineIdle ?? (() => true);
    this.#metrics.observeQueue(this);
  }

  get size(): number {
    return this.#throttle.length + this.#other.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  onReady(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Live change of batching (remote config). */
  configure(settings: { maxBatchEvents?: number; flushIntervalMs?: number }): void {
    if (settings.maxBatchEvents !== undefined) this.#maxBatchEvents = settings.maxBatchEvents;
    if (settings.flushIntervalMs !== undefined) this.#flushIntervalMs = settings.flushIntervalMs;
    if (this.size >= this.#maxBatchEvents) this.#ready();
  }

  emit(event: WireEvent): void {
    this.push(event);
  }

  push(event: WireEvent): void {
    const entry: Entry = { seq: this.#nextSeq++, event, bytes: encodedSize(event) };
    if (entry.bytes > this.#maxBytes) {
      this.#log?.error(
        { eventId: event.id, bytes: entry.bytes, maxBytes: this.#maxBytes },
        "event larger than the whole queue bound dropped; raise --queue-max-bytes",
      );
      this.discard([event], "queue_bytes");
      return;
    }
    this.#lane(event).push(entry);
    this.#bytes += entry.bytes;
    this.#enforceBounds();
    this.#afterPush();
  }

  /** The queued events (failures, OOM kills, births, MemoryPressure; not throttle samples) that pass `keep`, oldest first. */
  queued(keep: (event: WireEvent) => boolean): WireEvent[] {
    const out: WireEvent[] = [];
    for (const event of this.#other.events()) if (keep(event)) out.push(event);
    return out;
  }

  /** Removes and returns up to `max` events, oldest first. */
  take(max: number): WireEvent[] {
    const out: WireEvent[] = [];
    while (out.length < max) {
      const a = this.#throttle.peek();
      const b = this.#other.peek();
      const lane = a && (!b || a.seq < b.seq) ? this.#throttle : b ? this.#other : undefined;
      const entry = lane?.shift();
      if (!entry) break;
      this.#bytes -= entry.bytes;
      out.push(entry.event);
    }
    if (this.size === 0) this.#disarm();
    else if (this.size >= this.#maxBatchEvents) this.#readyOnNextTick();
    else this.#arm();
    return out;
  }

  /** Counts events the link gives up on (rejected by the aggregator, shutdown deadline). */
  discard(events: readonly WireEvent[], cause: DropCause): void {
    for (const event of events) this.#metrics.dropped.inc({ type: eventType(event), cause });
  }

  #lane(event: WireEvent): Lane {
    return event.throttle ? this.#throttle : this.#other;
  }

  #enforceBounds(): void {
    let dropped = 0;
    while (this.size > this.#maxEvents || this.#bytes > this.#maxBytes) {
      const why: DropCause = this.size > this.#maxEvents ? "queue_full" : "queue_bytes";
      const entry = this.#throttle.shift() ?? this.#other.shift();
      if (!entry) break;
      this.#bytes -= entry.bytes;
      this.discard([entry.event], why);
      dropped++;
    }
    if (dropped > 0) this.#reportDrops(dropped);
  }

  /**
   * One warning per DROP_LOG_INTERVAL_MS with the drops since the last one: a stuck
   * aggregator must not turn every push into a log line (the counter has every drop).
   */
  #reportDrops(dropped: number): void {
    this.#dropsUnlogged += dropped;
    const now = this.#clock.monotonic();
    if (this.#lastDropLogAt !== undefined && now - this.#lastDropLogAt < DROP_LOG_INTERVAL_MS) return;
    this.#lastDropLogAt = now;
    this.#log?.warn(
      {
        dropped: this.#dropsUnlogged,
        size: this.size,
        bytes: this.#bytes,
        maxEvents: this.#maxEvents,
        maxBytes: this.#maxBytes,
      },
      "outgoing queue full: oldest events dropped (throttle samples first); is the aggregator reachable? See kernel_gossip_agent_events_dropped_total",
    );
    this.#dropsUnlogged = 0;
  }

  #afterPush(): void {
    if (this.size >= this.#maxBatchEvents) this.#ready();
    else if (this.#isLineIdle()) this.#readyOnNextTick();
    else this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined || this.size === 0) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#ready();
    }, this.#flushIntervalMs);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Coalesces the pushes of one synchronous burst (a relist, a scan) into one readiness. */
  #readyOnNextTick(): void {
    if (this.#readySoon) return;
    this.#readySoon = true;
    queueMicrotask(() => {
      this.#readySoon = false;
      if (this.size > 0) this.#ready();
    });
  }

  #ready(): void {
    this.#disarm();
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (err) {
        this.#log?.error({ err }, "outbox ready listener threw; events stay queued");
      }
    }
  }
}
