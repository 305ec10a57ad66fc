import { describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { type WireEvent, wire } from "../../shared/proto.ts";
import { createQueueMetrics } from "./metrics.ts";
import { encodedSize, Outbox, type OutboxOptions } from "./outbox.ts";

const pod = { uid: "u", namespace: "shop", name: "cart-7d9f", node: "node-a", labels: { app: "cart" } };
const failure = (i: number): WireEvent => ({
  id: `f${i}`,
  pod,
  container: "app",
  count: 1,
  failure: { reason: "OOMKilled" },
});
const throttle = (i: number): WireEvent => ({
  id: `t${i}`,
  pod,
  container: "app",
  count: 1,
  throttle: { state: 2, throttledRatio: 0.5 },
});
const birth = (i: number): WireEvent => ({
  id: `b${i}`,
  pod,
  container: "",
  count: 1,
  birth: { ready: true, totalMs: 1200 },
});

function setup(options: Partial<OutboxOptions> = {}) {
  const clock = new ManualClock();
  const registry = createRegistry({ defaultMetrics: false });
  const metrics = createQueueMetrics(registry);
  const outbox = new Outbox({
    clock,
    metrics,
    maxEvents: 100,
    maxBytes: 1 << 20,
    maxBatchEvents: 10,
    flushIntervalMs: 250,
    isLineIdle: () => false,
    ...options,
  });
  let ready = 0;
  outbox.onReady(() => ready++);
  const value = async (name: string, labels: Record<string, string> = {}) => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
    return v?.value ?? 0;
  };
  return { clock, outbox, value, readyCount: () => ready };
}

describe("outbox", () => {
  it("measures events by their encoded size inside a batch", () => {
    const e = failure(1);
    const batch = wire.Batch.encode({ seq: 1, events: [e] }).finish().length;
    expect(encodedSize(e)).toBe(batch - 2); // minus the seq field
  });

  it("hands out events oldest first across lanes", () => {
    const { outbox } = setup();
    outbox.push(throttle(1));
    outbox.push(failure(1));
    outbox.push(throttle(2));
    outbox.push(birth(1));
    expect(outbox.take(3).map((e) => e.id)).toEqual(["t1", "f1", "t2"]);
    expect(outbox.size).toBe(1);
    expect(outbox.take(10).map((e) => e.id)).toEqual(["b1"]);
    expect(outbox.bytes).toBe(0);
  });

  it("drops the oldest throttle samples first when full, then the oldest failures, counting each", async () => {
    const { outbox, value } = setup({ maxEvents: 4 });
    outbox.push(failure(1));
    outbox.push(throttle(1));
    outbox.push(throttle(2));
    outbox.push(birth(1));
    outbox.push(failure(2)); // drops t1
    outbox.push(failure(3)); // drops t2
    expect(
      await value("kernel_gossip_agent_events_dropped_total", { type: "throttle", cause: "queue_full" }),
    ).toBe(2);
    outbox.push(throttle(3)); // no throttle left but itself: the newest sample goes
    expect(outbox.take(10).map((e) => e.id)).toEqual(["f1", "b1", "f2", "f3"]);
    for (let i = 10; i < 15; i++) outbox.push(failure(i));
    expect(outbox.take(10).map((e) => e.id)).toEqual(["f11", "f12", "f13", "f14"]);
    expect(
      await value("kernel_gossip_agent_events_dropped_total", { type: "failure", cause: "queue_full" }),
    ).toBe(1);
    expect(
      await value("kernel_gossip_agent_events_dropped_total", { type: "throttle", cause: "queue_full" }),
    ).toBe(3);
  });

  it("is bounded in bytes too", async () => {
    const size = encodedSize(failure(1));
    const { outbox, value } = setup({ maxBytes: size * 3 + 1 });
    for (let i = 0; i < 5; i++) outbox.push(failure(i));
    expect(outbox.size).toBe(3);
    expect(outbox.bytes).toBeLessThanOrEqual(size * 3 + 1);
    expect(
      await value("kernel_gossip_agent_events_dropped_total", { type: "failure", cause: "queue_bytes" }),
    ).toBe(2);
    expect(await value("kernel_gossip_agent_queue_events")).toBe(3);
    expect(await value("kernel_gossip_agent_queue_bytes")).toBe(outbox.bytes);
  });

  it("is ready at a full batch, or after the flush interval of a partial one", () => {
    const { clock, outbox, readyCount } = setup();
    for (let i = 0; i < 9; i++) outbox.push(failure(i));
    expect(readyCount()).toBe(0);
    outbox.push(failure(9));
    expect(readyCount()).toBe(1);
    expect(outbox.take(10)).toHaveLength(10);
    outbox.push(failure(10));
    clock.advance(249);
    expect(readyCount()).toBe(1);
    clock.advance(1);
    expect(readyCount()).toBe(2);
    outbox.configure({ flushIntervalMs: 50 });
    outbox.take(1);
    outbox.push(failure(11));
    clock.advance(50);
    expect(readyCount()).toBe(3);
  });

  it("is ready at once when the line is idle, once per synchronous burst", async () => {
    let idle = true;
    const { outbox, readyCount } = setup({ isLineIdle: () => idle });
    outbox.push(failure(1));
    outbox.push(failure(2));
    expect(readyCount()).toBe(0);
    await Promise.resolve();
    expect(readyCount()).toBe(1);
    idle = false;
    outbox.take(10);
    outbox.push(failure(3));
    await Promise.resolve();
    expect(readyCount()).toBe(1);
  });

  it("counts the events the link gives up on, by type and cause", async () => {
    const { outbox, value } = setup({ maxEvents: 3 });
    outbox.discard([failure(9)], "rejected");
    expect(
      await value("kernel_gossip_agent_events_dropped_total", { type: "failure", cause: "rejected" }),
    ).toBe(1);
  });
});
