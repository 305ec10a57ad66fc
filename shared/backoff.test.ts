import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff.ts";
import { ManualClock } from "./clock.ts";

describe("Backoff", () => {
  it("grows from 1 s to a 30 s ceiling with jitter between half and all of it", () => {
    const lows = new Backoff({ random: () => 0 });
    const highs = new Backoff({ random: () => 0.999999 });
    const low = Array.from({ length: 8 }, () => lows.next());
    const high = Array.from({ length: 8 }, () => highs.next());
    expect(low).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    expect(high).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("starts over after reset", () => {
    const b = new Backoff({ random: () => 0.999999 });
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(1000);
  });
});

describe("ManualClock", () => {
  it("fires due timers in order as time advances, and not cancelled ones", () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("b"), 200);
    const cancelled = clock.setTimeout(() => fired.push("x"), 100);
    clock.setTimeout(() => {
      fired.push("a");
      clock.setTimeout(() => fired.push("c"), 150);
    }, 100);
    clock.clearTimeout(cancelled);
    clock.advance(250);
    expect(fired).toEqual(["a", "b", "c"]);
    expect(clock.now()).toBe(250);
  });
});
