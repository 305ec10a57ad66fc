// The supervisor's retry schedule, on a manual clock: a list that keeps failing is retried
// forever with jittered exponential backoff from 1 s to 30 s — client-node's informer would
// have stopped at the first non-410 error.
import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff.ts";
import { ManualClock } from "./clock.ts";
import { KubeHttp } from "./kube-http.ts";
import { silentLogger } from "./log.ts";
import { type RestartCause, SupervisedWatch } from "./supervised-watch.ts";

// Nothing listens on port 1; the list fails before any watch is opened.
const kube = (): KubeHttp => new KubeHttp({ server: () => "https://127.0.0.1:1", apply: () => {} });

describe("supervised watch backoff", () => {
  it("retries a failing list at 1 s, 2 s, 4 s … capped at 30 s, forever", async () => {
    const clock = new ManualClock();
    const attempts: number[] = [];
    const causes: RestartCause[] = [];
    const watch = new SupervisedWatch({
      watcher: kube(),
      clock,
      log: silentLogger(),
      what: "pods on node-a",
      list: async () => {
        attempts.push(clock.monotonic());
        throw Object.assign(new Error("Internal Server Error"), { code: 500 });
      },
      watchPath: "/api/v1/pods",
      watchQuery: {},
      staleAfterMs: 3_600_000,
      onList: () => {},
      onUpsert: () => {},
      onDelete: () => {},
      onRestart: (cause) => causes.push(cause),
      // The ceiling of each step, no jitter: 1 s, 2 s, 4 s, …, 30 s.
      backoff: new Backoff({ random: () => 0.999_999 }),
    });
    watch.start();
    // Step time in 100 ms slices, letting each failed list settle before time moves on.
    for (let i = 0; i < 2_000; i++) {
      await new Promise((r) => setImmediate(r));
      clock.advance(100);
    }
    await new Promise((r) => setImmediate(r));
    watch.stop();
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] ?? 0));
    expect(gaps.slice(0, 7)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(causes.every((c) => c === "error")).toBe(true);
    expect(watch.listed).toBe(false);
    const before = attempts.length;
    clock.advance(120_000);
    await new Promise((r) => setImmediate(r));
    expect(attempts.length).toBe(before);
  });
});
