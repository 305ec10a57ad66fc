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
  it("turns a storm of 10,000 repeats into one event now and the count with the next", async () => {
    const { clock, dedup, out, value } = setup();
    for (let i = 0; i < 10_000; i++) dedup.emit(failure("app", i));
    expect(out).toHaveLength(1);
    expect(out[0]?.count).toBe(1);
    expect(await value("kernel_gossip_agent_events_deduplicated_total", { reason: "CrashLoopBackOff" })).toBe(
      9_999,
    );
    clock.advance(3 * MIN + 1);
    dedup.emit(failure("app", 10_000));
    expect(out).toHaveLength(2);
    expect(out[1]?.count).toBe(10_000);
    expect(out[1]?.id).toBe("uid-1/app/10000/CrashLoopBackOff");
    expect(
      await value("kernel_gossip_agent_events_total", { type: "failure", reason: "CrashLoopBackOff" }),
    ).toBe(2);
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

  it("flushes held-back counts at shutdown and follows a live cooldown change", () => {
    const { clock, dedup, out } = setup();
    dedup.emit(failure("app", 1));
    dedup.emit(failure("app", 2));
    dedup.flush();
    expect(out.map((e) => [e.id, e.count])).toEqual([
      ["uid-1/app/1/CrashLoopBackOff", 1],
      ["uid-1/app/2/CrashLoopBackOff", 1],
    ]);
    dedup.flush();
    expect(out).toHaveLength(2);
    dedup.configure({ cooldownMs: 10_000 });
    clock.advance(3 * MIN + 1);
    dedup.emit(failure("app", 3));
    dedup.emit(failure("app", 4));
    clock.advance(10_001);
    dedup.emit(failure("app", 5));
    expect(out.slice(2).map((e) => [e.id, e.count])).toEqual([
      ["uid-1/app/3/CrashLoopBackOff", 1],
      ["uid-1/app/5/CrashLoopBackOff", 2],
    ]);
    dedup.configure({ cooldownMs: 0 });
    dedup.emit(failure("app", 6));
    dedup.emit(failure("app", 7));
    expect(out).toHaveLength(6);
  });
});
