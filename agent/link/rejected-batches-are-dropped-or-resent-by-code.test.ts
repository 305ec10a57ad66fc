import { afterEach, describe, expect, it } from "vitest";
import { createStaticAuthenticator } from "../../aggregator/stream/auth.ts";
import { createStreamMetrics, startStreamServer } from "../../aggregator/stream/index.ts";
import { ManualClock, systemClock } from "../../shared/clock.ts";
import { createLogger, silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { testLink } from "./testing/harness.ts";
import { failureEvent } from "./testing/memory-outbox.ts";
import { startScriptedAggregator } from "./testing/scripted-aggregator.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const limits = {
  maxPayloadBytes: 64 * 1024,
  maxBatchEvents: 100,
  maxEventsPerSecond: 1_000_000,
  maxConnections: 10,
  heartbeatIntervalMs: 60_000,
};

async function realAggregator(written: string[], overrides: Partial<typeof limits> = {}) {
  const server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["tok=node-a"], silentLogger()),
    handler: {
      async handleBatch(_ctx, events) {
        written.push(...events.map((e) => e.id ?? ""));
        return { dropped: 0 };
      },
    },
    clock: systemClock,
    log: silentLogger(),
    metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
    limits: { ...limits, ...overrides },
  });
  cleanup.push(() => server.close());
  return server;
}

describe("rejected batches", () => {
  it("a batch about another node's pod is dropped and counted; the batches after it are delivered; the stop says so", async () => {
    const written: string[] = [];
    const server = await realAggregator(written);
    const clock = new ManualClock();
    const lines: Record<string, unknown>[] = [];
    const { link, outbox, metric } = testLink({
      url: `ws://127.0.0.1:${server.port}/stream`,
      clock,
      settings: { maxBatchEvents: 5, maxUnackedBatches: 1 },
      log: createLogger({ destination: { write: (s: string) => lines.push(JSON.parse(s)) } }),
    });
    link.start();
    await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);
    for (let i = 0; i < 5; i++) outbox.push(failureEvent(i, "node-b")); // poison: a foreign pod
    await expect.poll(() => !link.connected(), { message: "rejected and closed" }).toBe(true);
    for (let i = 5; i < 15; i++) outbox.push(failureEvent(i, "node-a"));
    clock.advance(1_000); // reconnect backoff
    await expect
      .poll(() => written.length === 10 && link.isIdle(), { message: "good batches delivered" })
      .toBe(true);

    expect(written).toEqual(
      Array.from({ length: 10 }, (_, i) => `uid-${i + 5}/app/${i + 5}/CrashLoopBackOff`),
    );
    expect(await metric("kernel_gossip_agent_rejects_total", { code: "KG_NODE_MISMATCH" })).toBe(1);
    expect(
      await metric("kernel_gossip_agent_events_dropped_total", { type: "failure", cause: "rejected" }),
    ).toBe(5);
    expect(await metric("kernel_gossip_agent_link_reconnects_total", { cause: "rejected" })).toBe(1);
    // Everything queued at the stop was delivered, but not every event: no "every event was delivered".
    expect(await link.stop(0)).toEqual({ delivered: 10, undelivered: 0, droppedEarlier: 5 });
    expect(lines.map((l) => l.msg)).not.toContain("link stopped; every event was delivered");
    expect(lines.find((l) => l.droppedEarlier === 5)).toMatchObject({
      level: "warn",
      msg: "link stopped; everything queued at shutdown was delivered, but 5 events were dropped earlier (kernel_gossip_agent_events_dropped_total says why)",
    });
  });

  it("batches being written when a neighbour is refused are still acked, not resent", async () => {
    const calls: string[][] = [];
    let release: () => void = () => {};
    const slowWrite = new Promise<void>((r) => (release = r));
    const server = await startStreamServer({
      port: 0,
      host: "127.0.0.1",
      auth: createStaticAuthenticator(["tok=node-a"], silentLogger()),
      handler: {
        async handleBatch(_ctx, events) {
          calls.push(events.map((e) => e.id ?? ""));
          await slowWrite; // still writing when the next batch is refused
          return { dropped: 0 };
        },
      },
      clock: systemClock,
      log: silentLogger(),
      metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
      limits,
    });
    cleanup.push(() => server.close());
    const clock = new ManualClock();
    const { link, outbox, metric } = testLink({
      url: `ws://127.0.0.1:${server.port}/stream`,
      clock,
      settings: { maxBatchEvents: 2, maxUnackedBatches: 4 },
    });
    link.start();
    cleanup.push(() => link.stop(0));
    await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);
    outbox.push(failureEvent(1, "node-a"));
    outbox.push(failureEvent(2, "node-a"));
    outbox.push(failureEvent(3, "node-b"));
    await expect.poll(() => calls.length === 1, { message: "first batch being written" }).toBe(true);
    await expect
      .poll(async () => (await metric("kernel_gossip_agent_rejects_total")) === 1, {
        message: "second batch refused",
      })
      .toBe(true);
    release();
    await expect
      .poll(() => link.isIdle() && !link.connected(), {
        message: "first batch acked, then the connection closed",
      })
      .toBe(true);
    expect(await metric("kernel_gossip_agent_events_delivered_total")).toBe(2);
    expect(await metric("kernel_gossip_agent_events_dropped_total", { cause: "rejected" })).toBe(1);
    clock.advance(1_000);
    await expect.poll(() => link.connected(), { message: "reconnected" }).toBe(true);
    expect(calls).toHaveLength(1); // nothing resent
  });

  it("a batch refused for the rate limit is kept and resent after the backoff", async () => {
    const written: string[] = [];
    // 2 events/s with a 4 s burst: 8 events pass, the 10-event batch after that does not.
    const server = await realAggregator(written, { maxEventsPerSecond: 2 });
    const clock = new ManualClock();
    const { link, outbox, metric } = testLink({
      url: `ws://127.0.0.1:${server.port}/stream`,
      clock,
      settings: { maxBatchEvents: 8, maxUnackedBatches: 1 },
    });
    link.start();
    cleanup.push(() => link.stop(0));
    await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);
    for (let i = 0; i < 16; i++) outbox.push(failureEvent(i, "node-a"));
    await expect
      .poll(() => written.length === 8 && !link.connected(), { message: "first batch in, second refused" })
      .toBe(true);
    expect(await metric("kernel_gossip_agent_rejects_total", { code: "KG_RATE_LIMITED" })).toBe(1);
    expect(link.isIdle()).toBe(false);
    clock.advance(1_000);
    await expect
      .poll(() => written.length === 16 && link.isIdle(), {
        message: "refused batch resent on a new connection",
      })
      .toBe(true);
    expect(await metric("kernel_gossip_agent_events_dropped_total")).toBe(0);
  });

  it("a frame over twice the aggregator's maxPayload (ws closes with 1009) drops the oversized batch only", async () => {
    const written: string[] = [];
    const server = await realAggregator(written, { maxPayloadBytes: 4_096 });
    const clock = new ManualClock();
    const { link, outbox, metric } = testLink({
      url: `ws://127.0.0.1:${server.port}/stream`,
      clock,
      settings: { maxBatchEvents: 50, maxUnackedBatches: 1 },
    });
    link.start();
    cleanup.push(() => link.stop(0));
    await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);
    const huge = failureEvent(0, "node-a", {});
    huge.failure = { reason: "CrashLoopBackOff", message: "x".repeat(10_000) };
    outbox.push(huge);
    await expect.poll(() => !link.connected(), { message: "closed by ws for the frame size" }).toBe(true);
    outbox.push(failureEvent(1, "node-a"));
    clock.advance(1_000);
    await expect
      .poll(() => written.length === 1 && link.isIdle(), { message: "the next batch delivered" })
      .toBe(true);
    expect(await metric("kernel_gossip_agent_rejects_total", { code: "KG_FRAME_TOO_LARGE" })).toBe(1);
    expect(await metric("kernel_gossip_agent_events_dropped_total", { cause: "rejected" })).toBe(1);
  });

  it("a batch over maxPayload (but under twice it) is refused by number and only that batch is dropped", async () => {
    const written: string[] = [];
    const server = await realAggregator(written, { maxPayloadBytes: 8_192 });
    const clock = new ManualClock();
    const { link, outbox, metric } = testLink({
      url: `ws://127.0.0.1:${server.port}/stream`,
      clock,
      settings: { maxBatchEvents: 1, maxUnackedBatches: 4 },
    });
    link.start();
    cleanup.push(() => link.stop(0));
    await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);
    const big = failureEvent(0, "node-a");
    big.failure = { reason: "CrashLoopBackOff", message: "x".repeat(10_000) };
    outbox.push(big);
    await expect.poll(() => !link.connected(), { message: "refused and closed" }).toBe(true);
    expect(await metric("kernel_gossip_agent_rejects_total", { code: "KG_FRAME_TOO_LARGE" })).toBe(1);
    expect(await metric("kernel_gossip_agent_events_dropped_total", { cause: "rejected" })).toBe(1);
    expect(link.isIdle()).toBe(true);
    outbox.push(failureEvent(1, "node-a"));
    clock.advance(1_000);
    await expect
      .poll(() => written.length === 1 && link.isIdle(), { message: "the next batch delivered" })
      .toBe(true);
  });

  it("acks arriving out of order each release their own batch", async () => {
    const agg = await startScriptedAggregator({
      onFrame: (ws, _frame, self) => {
        const seqs = self.frames.filter((f) => f.batch).map((f) => f.batch?.seq ?? 0);
        if (seqs.length === 3) for (const seq of [3, 1, 2]) self.send(ws, { ack: { seq } });
      },
    });
    cleanup.push(() => agg.close());
    const { link, outbox, metric } = testLink({
      url: agg.url,
      clock: new ManualClock(),
      settings: { maxBatchEvents: 2, maxUnackedBatches: 3 },
    });
    link.start();
    cleanup.push(() => link.stop(0));
    for (let i = 0; i < 6; i++) outbox.push(failureEvent(i, "node-a"));
    await expect
      .poll(() => link.isIdle() && agg.frames.length === 4, { message: "three batches acked" })
      .toBe(true);
    expect(await metric("kernel_gossip_agent_events_delivered_total")).toBe(6);
    expect(agg.frames[0]?.hello?.protocolVersion).toBe(1);
  });
});
