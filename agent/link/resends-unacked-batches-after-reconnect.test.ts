import { afterEach, describe, expect, it } from "vitest";
import { createStaticAuthenticator } from "../../aggregator/stream/auth.ts";
import { type StreamServer, startStreamServer } from "../../aggregator/stream/index.ts";
import { createStreamMetrics } from "../../aggregator/stream/metrics.ts";
import { Backoff } from "../../shared/backoff.ts";
import { systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { testLink } from "./testing/harness.ts";
import { failureEvent, MemoryOutbox } from "./testing/memory-outbox.ts";

const log = silentLogger();
const limits = {
  maxPayloadBytes: 4 << 20,
  maxBatchEvents: 5000,
  maxEventsPerSecond: 1_000_000,
  maxConnections: 10,
  heartbeatIntervalMs: 60_000,
};

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function server(
  port: number,
  handle: (ids: string[]) => Promise<void>,
  batches: string[] = [],
): Promise<StreamServer> {
  return startStreamServer({
    port,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["t0k3n=node-a"], log),
    handler: {
      async handleBatch(ctx, events) {
        batches.push(`${ctx.node}/${ctx.instance}#${ctx.seq}`);
        await handle(events.map((e) => e.id ?? ""));
        return { dropped: 0 };
      },
    },
    clock: systemClock,
    log,
    metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
    limits,
  });
}

function link(port: number, outbox: MemoryOutbox) {
  const { link: agent, registry } = testLink({
    url: `ws://127.0.0.1:${port}/stream`,
    clock: systemClock,
    token: "t0k3n",
    outbox,
    log,
    settings: { heartbeatIntervalMs: 60_000, maxUnackedBatches: 4, maxBatchEvents: 10 },
    backoff: new Backoff({ initialMs: 20, maxMs: 100 }),
  });
  return { agent, registry };
}

describe("agent link", () => {
  it("delivers batches and reports itself idle once everything is acked", async () => {
    const written: string[] = [];
    const srv = await server(0, async (ids) => void written.push(...ids));
    cleanup.push(() => srv.close());
    const outbox = new MemoryOutbox();
    const { agent, registry } = link(srv.port, outbox);
    agent.start();
    cleanup.push(() => agent.stop(1_000));
    for (let i = 0; i < 95; i++) outbox.push(failureEvent(i, "node-a"));
    await expect
      .poll(() => written.length === 95 && agent.isIdle(), { message: "95 events acked" })
      .toBe(true);
    expect(agent.connected()).toBe(true);
    expect(new Set(written).size).toBe(95);
    const delivered = await registry.getSingleMetric("kernel_gossip_agent_events_delivered_total")?.get();
    expect(delivered?.values[0]?.value).toBe(95);
  });

  it("keeps unacked batches across an aggregator restart and resends them in order", async () => {
    // First aggregator never finishes a batch (its writes hang), then shuts down.
    const seen: string[] = [];
    const firstBatches: string[] = [];
    const first = await server(
      0,
      async (ids) => {
        seen.push(...ids);
        await new Promise(() => {});
      },
      firstBatches,
    );
    const port = first.port;
    const outbox = new MemoryOutbox();
    const { agent } = link(port, outbox);
    agent.start();
    cleanup.push(() => agent.stop(1_000));
    for (let i = 0; i < 40; i++) outbox.push(failureEvent(i, "node-a"));
    await expect
      .poll(() => seen.length === 40, { message: "four batches received by the first aggregator" })
      .toBe(true);
    expect(agent.isIdle()).toBe(false);
    expect(outbox.size).toBe(0);
    await first.close({ drainMs: 0 }); // its writes never finish: nothing is acked

    const order: string[] = [];
    const secondBatches: string[] = [];
    const second = await server(port, async (ids) => void order.push(...ids), secondBatches);
    cleanup.push(() => second.close());
    await expect
      .poll(() => order.length === 40 && agent.isIdle(), {
        message: "resent batches acked by the second aggregator",
      })
      .toBe(true);
    expect(order).toEqual(seen);
    // The resent batches carry the same agent process id and sequence numbers (what the
    // aggregator's delivery ledger recognises them by).
    expect(firstBatches).toHaveLength(4);
    expect(firstBatches[0]).toMatch(/^node-a\/[0-9a-f-]{36}#1$/);
    expect(secondBatches).toEqual(firstBatches);
    const { delivered, undelivered } = await agent.stop(1_000);
    expect({ delivered, undelivered }).toEqual({ delivered: 40, undelivered: 0 });
  });
});
