// Time is an argument: production passes `systemClock`, tests a manual clock.
export interface Clock {
  /** Wall-clock unix milliseconds. */
  now(): number;
  /** Monotonic milliseconds, for durations. */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer): void;
}

/** Opaque handle returned by `setTimeout`; only ever passed back to `clearTimeout`. */
export type Timer = object;

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

/** A clock that moves only when told to: `advance(ms)` fires due timers in order. */
export class ManualClock implements Clock {
  #now: number;
  #mono = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #nextId = 1;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#mono;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const timer = { at: this.#mono + Math.max(0, ms), fn, id: this.#nextId++ };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(timer: Timer): void {
    this.#timers = this.#timers.filter((t) => t !== timer);
  }

  advance(ms: number): void {
    const target = this.#mono + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now += due.at - this.#mono;
      this.#mono = due.at;
      due.fn();
    }
    this.#now += target - this.#mono;
    this.#mono = target;
  }
}
