// Idle eviction: an object the CR writer holds with nothing to write and nothing scheduled,
// untouched for idleEvictMs (default an hour), is forgotten and read again on its next change,
// so a writer that once saw many objects does not keep them all. Looked for every half of
// idleEvictMs (at least a second apart). The bounds (write-capacity.ts) forget idle objects
// sooner, when the writer is full.
import type { Clock, Timer } from "../../shared/clock.ts";
import type { HeldObjects } from "./write-capacity.ts";
import { isIdle } from "./write-entry.ts";

const IDLE_EVICT_MS = 3_600_000;

export interface EvictionOptions {
  clock: Clock;
  idleEvictMs?: number | undefined;
  held: Pick<HeldObjects, "entries" | "forget">;
  /** After each look (objects may have been forgotten). */
  swept: () => void;
}

export class IdleEviction {
  #o: EvictionOptions;
  #timer: Timer | undefined;

  constructor(options: EvictionOptions) {
    this.#o = options;
  }

  start(): void {
    const every = Math.max(1000, (this.#o.idleEvictMs ?? IDLE_EVICT_MS) / 2);
    const tick = () => {
      this.#sweep();
      this.#timer = this.#o.clock.setTimeout(tick, every);
    };
    this.#timer = this.#o.clock.setTimeout(tick, every);
  }

  stop(): void {
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
  }

  #sweep(): void {
    const { clock, held } = this.#o;
    const limit = this.#o.idleEvictMs ?? IDLE_EVICT_MS;
    const now = clock.monotonic();
    for (const e of held.entries.values()) {
      if (isIdle(e) && now - e.lastTouchMono > limit) held.forget(e);
    }
    this.#o.swept();
  }
}
