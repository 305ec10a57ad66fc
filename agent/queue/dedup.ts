// Dedup in front of the outbox: it aggregates, it never gates. Per key
// (namespace/pod/container/reason):
//  - the first occurrence passes at once and opens a cooldown window;
//  - repeats inside the window are held back and counted;
//  - when the window ends, the held-back count leaves at once (its newest held-back event
//    carrying the count) and a new window opens; a window that held nothing just closes.
//    So every occurrence leaves at most one cooldown after it happened (the outbox adds at
//    most one flush interval), and a storm is one event per key and cooldown.
//  - a key pushed out of the full cache (eviction, counted) hands its count on at once;
//  - `flush()` (shutdown) hands on every held count, whether its window ended or not;
//  - `heldCounts()` lists what is held (the node's spool keeps it, agent/spool/pending.ts) and
//    `restore()` puts it back in a restarted agent, with what is left of its window.
// Windows are timed by the injected clock (one timer for the earliest window that holds
// something), not by lru-cache's TTL: an expired lru-cache entry disappears from
// `values()` before anything could send what it held.
// Throttle and birth events are not cooldown-deduped (the throttle signal has its own
// hysteresis and update interval, a birth happens once per pod incarnation): they pass.
//
// Invariant: every occurrence given to `emit` is forwarded — alone or inside the count of
// a later event of its key — and while held back it is in kernel_gossip_agent_dedup_held.
import type { LRUCache } from "lru-cache";
import type { Clock, Timer } from "../../shared/clock.ts";
import { boundedLru } from "../../shared/lru.ts";
import { eventType, type WireEvent } from "../../shared/proto.ts";
import type { Emitted, EventSink } from "../types/index.ts";
import { reasonOf } from "./events.ts";
import type { QueueMetrics } from "./metrics.ts";

interface Window {
  /** Monotonic ms at which this key's cooldown window ends. */
  endsAt: number;
  /** Occurrences held back in this window. */
  held: number;
  /** The newest held-back event; it leaves carrying `held`. */
  last?: WireEvent;
}

export interface DedupOptions {
  next: EventSink;
  clock: Clock;
  metrics: QueueMetrics;
  /** Cooldown per key; 0 switches dedup off. */
  cooldownMs: number;
  maxKeys: number;
}

/** `namespace/pod/container/reason`, or undefined for events that are not cooldown-deduped. */
export function dedupKey(event: WireEvent): string | undefined {
  if (!event.failure && !event.oom) return undefined;
  return `${event.pod?.namespace ?? ""}/${event.pod?.name ?? ""}/${event.container ?? ""}/${reasonOf(event)}`;
}

const occurrences = (event: WireEvent): number => (event.count && event.count > 0 ? event.count : 1);

export class Deduplicator implements EventSink {
  #next: EventSink;
  #clock: Clock;
  #metrics: QueueMetrics;
  #cooldownMs: number;
  #windows: LRUCache<string, Window>;
  /** Keys whose window holds something; the release timer looks only at these. */
  #holding = new Set<string>();
  #heldTotal = 0;
  #timer?: { at: number; handle: Timer };
  /** After flush(): everything passes. */
  #closed = false;

  constructor(options: DedupOptions) {
    this.#next = options.next;
    this.#clock = options.clock;
    this.#metrics = options.metrics;
    this.#cooldownMs = options.cooldownMs;
    this.#windows = boundedLru<string, Window>(options.maxKeys, {
      disposeAfter: (window, key, reason) => {
        if (reason !== "evict") return;
        this.#metrics.dedupEvictions.inc();
        this.#release(key, window);
      },
    });
    options.metrics.observeDedup({ held: () => this.#heldTotal });
  }

  /** Live change of the cooldown (remote config); applies to windows opened from now on. */
  configure(settings: { cooldownMs: number }): void {
    this.#cooldownMs = settings.cooldownMs;
  }

  get keys(): number {
    return this.#windows.size;
  }

  /** Occurrences held back right now (the gauge kernel_gossip_agent_dedup_held). */
  get held(): number {
    return this.#heldTotal;
  }

  emit(event: WireEvent): Emitted {
    const key = this.#cooldownMs > 0 && !this.#closed ? dedupKey(event) : undefined;
    if (key === undefined) {
      this.#pass(event);
      return { passed: true, count: occurrences(event) };
    }
    const now = this.#clock.monotonic();
    const window = this.#windows.get(key);
    if (window && now < window.endsAt) {
      const n = occurrences(event);
      window.held += n;
      window.last = event;
      this.#heldTotal += n;
      this.#metrics.deduplicated.inc({ reason: reasonOf(event) }, n);
      this.#holding.add(key);
      this.#arm(window.endsAt);
      return { passed: false, held: window.held };
    }
    // No window, or it ended (its held count, if any, is still here when the timer has not run
    // yet): this event goes and carries it.
    const carried = window?.held ?? 0;
    if (window) this.#take(key, window);
    this.#windows.set(key, { endsAt: now + this.#cooldownMs, held: 0 });
    const count = occurrences(event) + carried;
    this.#pass(count === event.count ? event : { ...event, count });
    return { passed: true, count };
  }

  /** What is held now, each window's newest event with its count and wall-clock end (the spool keeps it). */
  heldCounts(): { event: WireEvent; held: number; endsAtMs: number }[] {
    const out: { event: WireEvent; held: number; endsAtMs: number }[] = [];
    const wallOffset = this.#clock.now() - this.#clock.monotonic();
    for (const key of this.#holding) {
      const window = this.#windows.peek(key);
      if (window?.last && window.held > 0)
        out.push({ event: window.last, held: window.held, endsAtMs: window.endsAt + wallOffset });
    }
    return out;
  }

  /**
   * A count an earlier process of this agent held (from the spool): held again until its window
   * ends — at once if it already ended while the agent was down — then it leaves as usual. Not
   * counted in kernel_gossip_agent_events_deduplicated_total again.
   */
  restore(held: { event: WireEvent; held: number; endsAtMs: number }): void {
    const key = this.#cooldownMs > 0 && !this.#closed ? dedupKey(held.event) : undefined;
    if (key === undefined) {
      this.#pass({ ...held.event, count: held.held });
      return;
    }
    const left = Math.min(Math.max(0, held.endsAtMs - this.#clock.now()), this.#cooldownMs);
    const endsAt = this.#clock.monotonic() + left;
    const window = this.#windows.get(key);
    if (window) {
      window.endsAt = Math.min(window.endsAt, endsAt);
      window.held += held.held;
      window.last ??= held.event;
    } else this.#windows.set(key, { endsAt, held: held.held, last: held.event });
    this.#heldTotal += held.held;
    this.#holding.add(key);
    this.#arm(Math.min(endsAt, window?.endsAt ?? endsAt));
  }

  /**
   * Hands on every held count now, whether its window ended or not (shutdown). From then on
   * nothing is held: a late event (a scan finishing) passes at once.
   */
  flush(): void {
    this.#closed = true;
    this.#disarm();
    for (const key of [...this.#holding]) {
      const window = this.#windows.peek(key);
      if (window) this.#release(key, window);
      else this.#holding.delete(key);
    }
  }

  /** Stops the release timer (the agent stops; call `flush()` first). */
  stop(): void {
    this.#disarm();
  }

  /** The timer: releases every window that ended, then waits for the next one. */
  #onTimer(): void {
    this.#timer = undefined;
    const now = this.#clock.monotonic();
    let next = Number.POSITIVE_INFINITY;
    for (const key of [...this.#holding]) {
      const window = this.#windows.peek(key);
      if (!window) {
        this.#holding.delete(key);
        continue;
      }
      if (window.endsAt <= now) {
        this.#release(key, window);
        // A new window opens with the release: a steady storm stays one event per cooldown.
        window.endsAt = now + this.#cooldownMs;
      } else next = Math.min(next, window.endsAt);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  }

  /** Sends what `window` held (its newest held event, carrying the count). */
  #release(key: string, window: Window): void {
    const last = window.last;
    const held = this.#take(key, window);
    if (held > 0 && last) this.#pass(held === last.count ? last : { ...last, count: held });
  }

  /** Empties `window`; returns how many occurrences it held. */
  #take(key: string, window: Window): number {
    const held = window.held;
    this.#heldTotal -= held;
    window.held = 0;
    window.last = undefined;
    this.#holding.delete(key);
    return held;
  }

  #arm(at: number): void {
    if (this.#timer && this.#timer.at <= at) return;
    this.#disarm();
    const handle = this.#clock.setTimeout(() => this.#onTimer(), Math.max(0, at - this.#clock.monotonic()));
    (handle as { unref?: () => void }).unref?.();
    this.#timer = { at, handle };
  }

  #disarm(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer.handle);
    this.#timer = undefined;
  }

  #pass(event: WireEvent): void {
    this.#metrics.events.inc({ type: eventType(event), reason: reasonOf(event) });
    this.#next.emit(event);
  }
}
