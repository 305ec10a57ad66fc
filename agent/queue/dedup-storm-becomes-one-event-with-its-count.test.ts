import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { Deduplicator } from "./dedup.ts";
import { createQueueMetrics } from "./metrics.ts";

const MIN = 60_000;

function failure(container: string, restartCount: number, reason = "CrashLoopBackOff"): WireEvent {
  return {
    id: `uid-1/${container}/${restartCount}/${reason}`,
    pod: { uid: "uid-1", namespace: "shop", name: "cart-7d9f", node: "node-a" },
    container,
    observedAtMs: 0,
    count: 1,
    failure: { reason, restartCount },
  };
}

function setup(cooldownMs = 3 * MIN, maxKeys = 10_000) {
  const clock = new ManualClock();
  const registry = createRegistry({ defaultMetrics: false });
  const metrics = createQueueMetrics(registry);
  const out: WireEvent[] = [];
  const dedup = new Deduplicator({ next: { emit: (e) => out.push(e) }, clock, metrics, cooldownMs, maxKeys });
  const value = async (name: string, labels: Record<string, string> = {}) => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
    return v?.value ?? 0;
  };
  return { clock, dedup, out, value };
}

describe("dedup", () => {
  it("turns a storm of 10,000 repeats into one event now and the held count when the cooldown ends", async () => {
    const { clock, dedup, out, value } = setup();
    for (let i = 0; i < 10_000; i++) dedup.emit(failure("app", i));
    expect(out).toHaveLength(1);
    expect(out[0]?.count).toBe(1);
    expect(await value("kernel_gossip_agent_events_deduplicated_total", { reason: "CrashLoopBackOff" })).toBe(
      9_999,
    );
    expect(await value("kernel_gossip_agent_dedup_held_occurrences")).toBe(9_999);
    clock.advance(3 * MIN - 1);
    expect(out).toHaveLength(1);
    clock.advance(1); // the window ends: the held count leaves without waiting for another event
    expect(out.map((e) => [e.id, e.count])).toEqual([
      ["uid-1/app/0/CrashLoopBackOff", 1],
      ["uid-1/app/9999/CrashLoopBackOff", 9_999],
    ]);
    expect(await value("kernel_gossip_agent_dedup_held_occurrences")).toBe(0);
    // A new window opened with the release: the storm goes on as one event per cooldown.
    dedup.emit(failure("app", 10_000));
    expect(out).toHaveLength(2);
    clock.advance(3 * MIN);
    expect(out[2]).toMatchObject({ id: "uid-1/app/10000/CrashLoopBackOff", count: 1 });
    // A window that held nothing just closes; the next occurrence passes at once.
    clock.advance(3 * MIN);
    dedup.emit(failure("app", 10_001));
    expect(out[3]).toMatchObject({ id: "uid-1/app/10001/CrashLoopBackOff", count: 1 });
    expect(
      await value("kernel_gossip_agent_events_total", { type: "failure", reason: "CrashLoopBackOff" }),
    ).toBe(4);
  });

  it("every occurrence leaves exactly once, at most one cooldown after it happened (random storms)", () => {
    const COOLDOWN = 1_000;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            container: fc.constantFrom("a", "b", "c"),
            reason: fc.constantFrom("CrashLoopBackOff", "OOMKilled"),
            count: fc.integer({ min: 1, max: 5 }),
            wait: fc.integer({ min: 0, max: 2_500 }),
          }),
          { maxLength: 60 },
        ),
        fc.boolean(),
        (steps, stopEarly) => {
          const { clock, dedup, out } = setup(COOLDOWN, 2);
          /** Occurrences emitted and not yet out, per key, with the time each happened. */
          const waiting = new Map<string, number[]>();
          let emitted = 0;
          let restart = 0;
          const check = () => {
            for (const e of out.splice(0)) {
              const key = `${e.container}/${e.failure?.reason}`;
              const times = waiting.get(key) ?? [];
              expect(times.length).toBeGreaterThanOrEqual(e.count ?? 1);
              times.splice(0, e.count ?? 1);
            }
            for (const times of waiting.values())
              for (const t of times) expect(clock.monotonic() - t).toBeLessThan(COOLDOWN);
          };
          for (const s of steps) {
            const e = { ...failure(s.container, restart++, s.reason), count: s.count };
            const key = `${s.container}/${s.reason}`;
            waiting.set(key, [...(waiting.get(key) ?? []), ...Array(s.count).fill(clock.monotonic())]);
            emitted += s.count;
            dedup.emit(e);
            check();
            clock.advance(s.wait);
            check();
          }
          if (stopEarly) dedup.flush();
          else clock.advance(COOLDOWN);
          check();
          expect([...waiting.values()].flat()).toHaveLength(0);
          expect(dedup.held).toBe(0);
          return emitted >= 0;
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keys by namespace/pod/container/reason: other containers and reasons pass", () => {
    const { dedup, out } = setup();
    dedup.emit(failure("app", 1));
    dedup.emit(failure("sidecar", 1));
    dedup.emit(failure("app", 1, "OOMKilled"));
    dedup.emit({ ...failure("app", 2, "x"), failure: undefined, oom: { kills: 1 } });
    dedup.emit(failure("app", 2));
    expect(out.map((e) => e.id)).toEqual([
      "uid-1/app/1/CrashLoopBackOff",
      "uid-1/sidecar/1/CrashLoopBackOff",
      "uid-1/app/1/OOMKilled",
    ]);
  });

  it("never holds back throttle or birth events", () => {
    const { dedup, out } = setup();
    const throttle: WireEvent = {
      id: "t",
      pod: { namespace: "shop", name: "p" },
      container: "app",
      count: 1,
      throttle: { state: 2 },
    };
    const birth: WireEvent = {
      id: "b",
      pod: { namespace: "shop", name: "p" },
      container: "",
      count: 1,
      birth: { ready: true },
    };
    for (let i = 0; i < 5; i++) {
      dedup.emit(throttle);
      dedup.emit(birth);
    }
    expect(out).toHaveLength(10);
  });

  it("hands on the held-back count of an evicted key at once, and counts the eviction", async () => {
    const { dedup, out, value } = setup(3 * MIN, 2);
    dedup.emit(failure("a", 1));
    dedup.emit(failure("a", 2));
    dedup.emit(failure("a", 3));
    dedup.emit(failure("b", 1));
    dedup.emit(failure("c", 1)); // evicts "a", which held back 2
    expect(await value("kernel_gossip_agent_dedup_evictions_total")).toBe(1);
    expect(out.map((e) => [e.id, e.count])).toEqual([
      ["uid-1/a/1/CrashLoopBackOff", 1],
      ["uid-1/b/1/CrashLoopBackOff", 1],
      ["uid-1/a/3/CrashLoopBackOff", 2],
      ["uid-1/c/1/CrashLoopBackOff", 1],
    ]);
    expect(dedup.keys).toBe(2);
  });

  it("flushes every held count at shutdown, whatever its window, and holds nothing after", async () => {
    const { clock, dedup, out, value } = setup();
    dedup.emit(failure("app", 1));
    dedup.emit(failure("app", 2));
    clock.advance(2 * MIN);
    dedup.emit(failure("app", 3, "OOMKilled"));
    dedup.emit(failure("app", 4, "OOMKilled"));
    dedup.emit(failure("app", 5, "OOMKilled"));
    expect(await value("kernel_gossip_agent_dedup_held_occurrences")).toBe(3);
    dedup.flush();
    expect(out.map((e) => [e.id, e.count])).toEqual([
      ["uid-1/app/1/CrashLoopBackOff", 1],
      ["uid-1/app/3/OOMKilled", 1],
      ["uid-1/app/2/CrashLoopBackOff", 1],
      ["uid-1/app/5/OOMKilled", 2],
    ]);
    expect(await value("kernel_gossip_agent_dedup_held_occurrences")).toBe(0);
    dedup.flush();
    clock.advance(10 * MIN);
    expect(out).toHaveLength(4);
    // After the shutdown flush nothing is held: a scan finishing late still gets its event out.
    dedup.emit(failure("app", 6));
    dedup.emit(failure("app", 7));
    expect(out.slice(4).map((e) => [e.id, e.count])).toEqual([
      ["uid-1/app/6/CrashLoopBackOff", 1],
      ["uid-1/app/7/CrashLoopBackOff", 1],
    ]);
    expect(dedup.held).toBe(0);
  });

  it("follows a live cooldown change, and 0 switches dedup off", () => {
    const { clock, dedup, out } = setup();
    dedup.configure({ cooldownMs: 10_000 });
    dedup.emit(failure("app", 6));
    dedup.emit(failure("app", 7));
    dedup.emit(failure("app", 8));
    clock.advance(10_000);
    expect(out.map((e) => [e.id, e.count])).toEqual([
      ["uid-1/app/6/CrashLoopBackOff", 1],
      ["uid-1/app/8/CrashLoopBackOff", 2],
    ]);
    dedup.configure({ cooldownMs: 0 });
    dedup.emit(failure("app", 9));
    dedup.emit(failure("app", 10));
    expect(out).toHaveLength(4);
  });

  it("an event of a key whose window ended carries what the window held, even before the timer ran", () => {
    const manual = new ManualClock();
    // A busy event loop: time moves, the release timer has not run yet.
    const clock = {
      ...manual,
      now: () => manual.now(),
      monotonic: () => manual.monotonic(),
      setTimeout: () => ({}),
      clearTimeout: () => {},
    };
    const out: WireEvent[] = [];
    const metrics = createQueueMetrics(createRegistry({ defaultMetrics: false }));
    const dedup = new Deduplicator({
      next: { emit: (e) => out.push(e) },
      clock,
      metrics,
      cooldownMs: MIN,
      maxKeys: 10,
    });
    dedup.emit(failure("app", 1));
    dedup.emit({ ...failure("app", 2), count: 2 });
    manual.advance(MIN);
    dedup.emit(failure("app", 3));
    expect(out.map((e) => [e.id, e.count])).toEqual([
      ["uid-1/app/1/CrashLoopBackOff", 1],
      ["uid-1/app/3/CrashLoopBackOff", 3],
    ]);
    expect(dedup.held).toBe(0);
  });
});
