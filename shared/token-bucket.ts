// A token bucket (rate per second, burst) on an injected clock, the one rate limit of the
// aggregator: the global CR write rate (aggregator/emit; `acquire()` resolves in FIFO order
// as tokens become available; setRate follows this replica's share of the cluster-wide
// budget, ADR 0011) and each connection's events per second (aggregator/stream, `tryTake(n)`).
import type { Clock, Timer } from "./clock.ts";

export class TokenBucket {
  #rate: number;
  #burst: number;
  #clock: Clock;
  #tokens: number;
  #last: number;
  #waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  #timer: Timer | undefined;

  constructor(options: { rate: number; burst: number; clock: Clock }) {
    this.#rate = options.rate;
    this.#burst = Math.max(1, options.burst);
    this.#clock = options.clock;
    this.#tokens = this.#burst;
    this.#last = options.clock.monotonic();
  }

  get rate(): number {
    return this.#rate;
  }

  get burst(): number {
    return this.#burst;
  }

  /** New rate and burst from now on (tokens already earned are kept, up to the new burst). */
  setRate(rate: number, burst: number): void {
    this.#refill();
    this.#rate = rate;
    this.#burst = Math.max(1, burst);
    this.#tokens = Math.min(this.#tokens, this.#burst);
    if (this.#timer) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#schedule();
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  #refill(): void {
    const now = this.#clock.monotonic();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
  }

  /** Takes `n` tokens now if they are free (and nobody waits); false, nothing taken, if not. */
  tryTake(n = 1): boolean {
    this.#refill();
    if (this.#waiters.length === 0 && this.#tokens >= n) {
      this.#tokens -= n;
      return true;
    }
    return false;
  }

  acquire(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#timer || this.#waiters.length === 0) return;
    this.#refill();
    const wait = this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.#rate) * 1000);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
      while (this.#waiters.length > 0 && this.#tokens >= 1) {
        this.#tokens -= 1;
        this.#waiters.shift()?.resolve();
      }
      this.#schedule();
    }, wait);
  }

  /** Fails every waiter (shutdown). */
  close(err: Error): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}
