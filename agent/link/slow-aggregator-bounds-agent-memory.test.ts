// A slow or stuck aggregator must not grow the agent without bound: the unacked window stops
// the link from taking more, the outbox fills to its byte bound and drops by its policy, and
// a peer that does not read at all stops the link through the socket's buffered amount.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { createStaticAuthenticator } from "../../aggregator/stream/auth.ts";
import { createStreamMetrics, startStreamServer } from "../../aggregator/stream/index.ts";
import { Backoff } from "../../shared/backoff.ts";
import { systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { Outbox } from "../queue/outbox.ts";
import { testAgentOptions, testDelivery } from "../testing.ts";
import { HIGH_WATER_BYTES } from "./index.ts";
import { failureEvent } from "./testing/memory-outbox.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const heapUsed = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const QUEUE_BYTES = 2 << 20;
const MiB = 1 << 20;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** The real outgoing queue (agent/queue) in front of the real link, built as the agent builds them. */
function makeLink(port: number, settings: { maxUnackedBatches: number; maxBatchEvents: number }) {
  const registry = createRegistry({ defaultMetrics: false });
  const o = testAgentOptions({
    aggregatorUrl: `ws://127.0.0.1:${port}/stream`,
    queueMaxEvents: 1_000_000,
    queueMaxBytes: QUEUE_BYTES,
    flushInterval: 50,
    heartbeatInterval: 60_000,
    ...settings,
  });
  const { link, outbox } = testDelivery(o, registry, new Backoff({ initialMs: 50, maxMs: 100 }));
  link.start();
  return { link, registry, outbox };
}

async function metric(
  registry: ReturnType<typeof createRegistry>,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((n, v) => n + v.value, 0);
}

/** Pushes n events in slices, yielding so the link can react as in production. */
async function pushMany(outbox: Outbox, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    outbox.push(failureEvent(i, "node-a"));
    if (i % 5_000 === 4_999) await new Promise((r) => setImmediate(r));
  }
}

describe("agent memory under a slow aggregator", () => {
  it("an aggregator that never acks fills the window, then the outbox, which drops by policy", async () => {
    let received = 0;
    const server = await startStreamServer({
      port: 0,
      host: "127.0.0.1",
      auth: createStaticAuthenticator(["tok=node-a"], silentLogger()),
      handler: {
        handleBatch: (_ctx, events) => {
          received += events.length;
          return new Promise(() => {}); // the API server never answers
        },
      },
      clock: systemClock,
      log: silentLogger(),
      metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
      limits: {
        maxPayloadBytes: 4 << 20,
        maxBatchEvents: 5000,
        maxEventsPerSecond: 10_000_000,
        maxConnections: 10,
        heartbeatIntervalMs: 60_000,
      },
    });
    cleanup.push(() => server.close());
    const { link, registry, outbox } = makeLink(server.port, { maxUnackedBatches: 8, maxBatchEvents: 500 });
    cleanup.push(() => link.stop(50));
    await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);

    const before = heapUsed();
    await pushMany(outbox, 200_000);
    await expect
      .poll(() => received === 8 * 500, { message: "the window of 8 batches in flight" })
      .toBe(true);
    const after = heapUsed();

    const dropped = await metric(registry, "kernel_gossip_agent_events_dropped_total", {
      cause: "queue_bytes",
    });
    expect(await metric(registry, "kernel_gossip_agent_unacked_batches")).toBe(8);
    expect(outbox.bytes).toBeLessThanOrEqual(QUEUE_BYTES);
    expect(outbox.size + 8 * 500 + dropped).toBe(200_000);
    expect(dropped).toBeGreaterThan(150_000);
    // Held: the queue (2 MiB encoded, as JS objects several times that) and the window's frames.
    expect(after - before).toBeLessThan(QUEUE_BYTES * 8 + 16 * MiB);
    console.log(
      `never-acking aggregator: heap +${((after - before) / MiB).toFixed(1)} MiB after 200k events; queue ${outbox.size} events / ${(outbox.bytes / MiB).toFixed(2)} MiB, dropped ${dropped}`,
    );
  });

  it("a peer that stops reading stops the link at the socket's high-water mark, not the window", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
    cleanup.push(
      () =>
        new Promise((r) => {
          for (const ws of wss.clients) ws.terminate();
          wss.close(r);
        }),
    );
    wss.on("connection", (_ws, req) => req.socket.pause()); // reads nothing, ever
    await new Promise((r) => wss.once("listening", r));
    const port = (wss.address() as { port: number }).port;
    const { link, registry, outbox } = makeLink(port, { maxUnackedBatches: 10_000, maxBatchEvents: 1000 });
    cleanup.push(() => link.stop(50));
    await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);

    const before = heapUsed();
    await pushMany(outbox, 200_000);
    // Backpressure held the queue: it filled and dropped (a link that ignored the socket's
    // buffer would have sent all 200 batches at once and never filled it).
    await expect
      .poll(async () => (await metric(registry, "kernel_gossip_agent_events_dropped_total")) > 0, {
        message: "the queue filled behind the blocked socket",
      })
      .toBe(true);
    const after = heapUsed();

    const sent = await metric(registry, "kernel_gossip_agent_batches_sent_total");
    const dropped = await metric(registry, "kernel_gossip_agent_events_dropped_total");
    expect(sent).toBeLessThan(200); // backpressure, not the 10,000-batch window, stopped it
    expect(dropped).toBeGreaterThan(0);
    expect(outbox.bytes).toBeLessThanOrEqual(QUEUE_BYTES);
    expect(after - before).toBeLessThan(QUEUE_BYTES * 8 + sent * 300_000 + 16 * MiB);
    console.log(
      `non-reading peer: ${sent} batches written before backpressure (high water ${HIGH_WATER_BYTES} bytes), heap +${((after - before) / MiB).toFixed(1)} MiB, dropped ${dropped}`,
    );
  });
});
