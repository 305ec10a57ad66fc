// Refused upgrades per source address: each address may fail authentication `perMinute`
// times a minute (a burst of BURST); past that its upgrades are answered 429
// KG_AUTH_RATE_LIMITED before any TokenReview is made. Only failures count, so an agent with
// a valid token is never limited, and a flood of garbage tokens costs the API server at
// most BURST + perMinute reviews a minute per address. Addresses are remembered in a bounded
// LRU (an address that fell out starts with a full burst again).

import type { Clock } from "../../shared/clock.ts";
import { boundedLru } from "../../shared/lru.ts";

export const AUTH_FAILURE_BURST = 10;

interface Budget {
  tokens: number;
  at: number;
}

export class UpgradeLimiter {
  readonly perMinute: number;
  #clock: Clock;
  /** Sized by use (shared/lru.ts): lru-cache's `max` would allocate 50,000 slots up front. */
  #budgets = boundedLru<string, Budget>(50_000);

  constructor(options: { perMinute: number; clock: Clock }) {
    this.perMinute = options.perMinute;
    this.#clock = options.clock;
  }

  #budget(address: string): Budget {
    const now = this.#clock.monotonic();
    let b = this.#budgets.get(address);
    if (!b) {
      b = { tokens: AUTH_FAILURE_BURST, at: now };
      this.#budgets.set(address, b);
    }
    b.tokens = Math.min(AUTH_FAILURE_BURST, b.tokens + ((now - b.at) / 60_000) * this.perMinute);
    b.at = now;
    return b;
  }

  /** Milliseconds until `address` may try again; 0 when it may try now. */
  retryInMs(address: string): number {
    if (this.perMinute <= 0) return 0;
    const b = this.#budget(address);
    return b.tokens >= 1 ? 0 : Math.ceil(((1 - b.tokens) / this.perMinute) * 60_000);
  }

  /** An upgrade from `address` failed authentication. */
  failed(address: string): void {
    if (this.perMinute <= 0) return;
    const b = this.#budget(address);
    b.tokens = Math.max(0, b.tokens - 1);
  }
}
