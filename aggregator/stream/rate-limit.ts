// Per-connection token bucket over events: `rate` events per second with a burst of
// `burstSeconds` seconds' worth. Time comes from the clock (monotonic), so tests drive it.
import type { Clock } from "../../shared/clock.ts";

export class TokenBucket {
  readonly rate: number;
  readonly capacity: number;
  #tokens: number;
  #at: number;
  #clock: Clock;

  constructor(rate: number, burstSeconds: number, clock: Clock) {
    this.rate = rate;
    this.capacity = rate * burstSeconds;
    this.#tokens = this.capacity;
    this.#clock = clock;
    this.#at = clock.monotonic();
  }

  /** Takes `n` tokens when available; false (and nothing taken) when not. */
  take(n: number): boolean {
    const now = this.#clock.monotonic();
    this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (n > this.#tokens) return false;
    this.#tokens -= n;
    return true;
  }
}
