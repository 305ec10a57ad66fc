// The write budget serves requests an ack waits for (first attempts, retries) before state
// writes nobody waits on (ADR 0011), yet gives state writes every STATE_SHARE-th token while
// both wait; the bucket follows a new rate (the replica's share of the cluster budget) at once.
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { TokenBucket } from "../../shared/token-bucket.ts";
import { BIRTH_SHARE, FairBudget, STATE_SHARE } from "./fair-budget.ts";

const settle = () => new Promise((r) => setImmediate(r));

describe("write budget lanes", () => {
  it("a first attempt queued after state writes gets the next token", async () => {
    const clock = new ManualClock(0);
    const bucket = new TokenBucket({ rate: 10, burst: 1, clock });
    const budget = new FairBudget(bucket);
    await budget.acquire("first", "n0"); // the burst
    const order: string[] = [];
    for (let i = 0; i < 3; i++) void budget.acquire("state", `n${i}`).then(() => order.push(`state-${i}`));
    void budget.acquire("first", "n9").then(() => order.push("first"));
    await settle();
    clock.advance(100);
    await settle();
    expect(order).toEqual(["first"]);
  });

  it(`while both wait, one token in ${STATE_SHARE} goes to state writes (late, never starved)`, async () => {
    const clock = new ManualClock(0);
    const bucket = new TokenBucket({ rate: 10, burst: 1, clock });
    const budget = new FairBudget(bucket);
    await budget.acquire("first", "n0");
    const order: string[] = [];
    const firsts = 4 * STATE_SHARE;
    for (let i = 0; i < firsts; i++) void budget.acquire("first", "n1").then(() => order.push("f"));
    for (let i = 0; i < 4; i++) void budget.acquire("state", "n2").then(() => order.push("s"));
    for (let i = 0; i < firsts + 4; i++) {
      await settle();
      clock.advance(100);
    }
    await settle();
    expect(order).toHaveLength(firsts + 4);
    expect(order.slice(0, 2 * STATE_SHARE).filter((x) => x === "s")).toHaveLength(2);
    expect(order.filter((x) => x === "s")).toHaveLength(4);
  });

  it(`births go ahead of counted writes, but only ${BIRTH_SHARE - 1} token in ${BIRTH_SHARE} while those wait`, async () => {
    const clock = new ManualClock(0);
    const bucket = new TokenBucket({ rate: 10, burst: 1, clock });
    const budget = new FairBudget(bucket);
    await budget.acquire("first", "n0");
    const order: string[] = [];
    for (let i = 0; i < 6; i++) void budget.acquire("first", `n${i}`).then(() => order.push("f"));
    for (let i = 0; i < 6; i++) void budget.acquire("birth", `n${i}`).then(() => order.push("b"));
    for (let i = 0; i < 12; i++) {
      await settle();
      clock.advance(100);
    }
    await settle();
    expect(order.slice(0, 4)).toEqual(["b", "f", "b", "f"]);
    expect(order).toHaveLength(12);
  });

  it("setRate takes effect for a request already waiting", async () => {
    const clock = new ManualClock(0);
    const bucket = new TokenBucket({ rate: 1, burst: 1, clock });
    await bucket.acquire();
    let got = false;
    void bucket.acquire().then(() => {
      got = true;
    });
    bucket.setRate(20, 1);
    clock.advance(50);
    await settle();
    expect(got).toBe(true);
    expect(bucket.rate).toBe(20);
  });
});
