// Dedup in front of the outbox: repeats of the same namespace/pod/container/reason within
// the cooldown are held back and counted; the count (1 + held back) travels with the next
// event of that key that passes. Nothing is lost silently:
//  - a key pushed out of the full cache (eviction, counted) hands its held-back count on at
//    once, as its last held-back event carrying that count;
//  - `flush()` (shutdown) does the same for every key.
// Throttle and birth events are not cooldown-deduped (the throttle signal has its own
// hysteresis and update interval, a birth happens once per pod incarnation): they pass.
//
// Invariant: every event given to `emit` is either forwarded (alone or inside the count of
// a later one) or counted in kernel_gossip_agent_events_deduplicated_total until forwarded.
import { LRUCache } from "lru-cache";
import type { Clock } from "../../shared/clock.ts";
import type { WireEvent } from "../../shared/proto.ts";
import type { EventSink } from "../types.ts";
import { reasonOf, typeOf } from "./events.ts";
import type { QueueMetrics } from "./metrics.ts";

interface Held {
  /** Occurrences held back since the last event of this key passed. */
  suppressed: number;
  /** The newest held-back event, sent with the held-back count if no later event comes. */
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

export class Deduplicator implements EventSink {
  #next: EventSink;
  #metrics: QueueMetrics;
  #cooldownMs: number;
  #cache: LRUCache<string, Held>;

  constructor(options: DedupOptions) {
    this.#next = options.next;
    this.#metrics = options.metrics;
    this.#cooldownMs = options.cooldownMs;
    this.#cache = new LRUCache<string, Held>({
      max: options.maxKeys,
      ttl: Math.max(1, options.cooldownMs),
      // Expiry follows the injected clock, checked on every read (no cached "now"). lru-cache
      // treats a start time of 0 as "no TTL", so the clock is shifted off zero.
      perf: { now: () => options.clock.monotonic() + 1 },
      ttlResolution: 0,
      disposeAfter: (held, _key, reason) => {
        if (reason !== "evict") return;
        this.#metrics.dedupEvictions.inc();
        this.#handOn(held);
      },
    });
  }

  /** Live change of the cooldown (remote config); applies to keys set from now on. */
  configure(settings: { cooldownMs: number }): void {
    this.#cooldownMs = settings.cooldownMs;
  }

  get keys(): number {
    return this.#cache.size;
  }

  emit(event: WireEvent): void {
    const key = this.#cooldownMs > 0 ? dedupKey(event) : undefined;
    if (key === undefined) {
      this.#pass(event);
      return;
    }
    const status: LRUCache.Status<string, Held> = {};
    const held = this.#cache.get(key, { allowStale: true, status });
    if (held && status.get === "hit") {
      held.suppressed += event.count || 1;
      held.last = event;
      this.#metrics.deduplicated.inc({ reason: reasonOf(event) });
      return;
    }
    // Miss, or the cooldown of this key is over: this event goes, carrying the held-back count.
    const count = (event.count || 1) + (held?.suppressed ?? 0);
    this.#cache.set(key, { suppressed: 0 }, { ttl: this.#cooldownMs });
    this.#pass(count === event.count ? event : { ...event, count });
  }

  /** Hands on every held-back count now (shutdown): each key's newest held-back event goes with it. */
  flush(): void {
    for (const held of this.#cache.values()) {
      this.#handOn(held);
      held.suppressed = 0;
      held.last = undefined;
    }
  }

  #handOn(held: Held): void {
    if (held.suppressed > 0 && held.last) this.#pass({ ...held.last, count: held.suppressed });
  }

  #pass(event: WireEvent): void {
    this.#metrics.events.inc({ type: typeOf(event), reason: reasonOf(event) });
    this.#next.emit(event);
  }
}
