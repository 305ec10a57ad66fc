import { afterEach, expect, it } from "vitest";
import WebSocket from "ws";
import { createStaticAuthenticator } from "../../aggregator/stream/auth.ts";
import { createStreamMetrics, startStreamServer } from "../../aggregator/stream/index.ts";
import { ManualClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { encodeEnvelope } from "../../shared/proto.ts";
import { testLink } from "./testing/harness.ts";
import { startScriptedAggregator } from "./testing/scripted-aggregator.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

it("the agent terminates a link whose aggregator stops answering pings and reconnects", async () => {
  const agg = await startScriptedAggregator({ autoPong: false });
  cleanup.push(() => agg.close());
  const clock = new ManualClock();
  const { link, metric } = testLink({ url: agg.url, clock, settings: { heartbeatIntervalMs: 1_000 } });
  link.start();
  cleanup.push(() => link.stop(0));
  await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);

  clock.advance(1_000); // ping 1
  clock.advance(1_000); // ping 2
  expect(link.connected()).toBe(true);
  clock.advance(1_000); // two pings unanswered → terminate
  await expect.poll(() => !link.connected(), { message: "link dropped" }).toBe(true);
  expect(await metric("kernel_gossip_agent_link_reconnects_total", { cause: "heartbeat" })).toBe(1);

  clock.advance(1_000); // backoff elapsed → reconnect
  await expect.poll(() => link.connected() && agg.connections === 2, { message: "reconnected" }).toBe(true);
});

it("the agent keeps a link whose aggregator answers pings", async () => {
  const agg = await startScriptedAggregator({ autoPong: true });
  cleanup.push(() => agg.close());
  const clock = new ManualClock();
  const { link } = testLink({ url: agg.url, clock, settings: { heartbeatIntervalMs: 1_000 } });
  link.start();
  cleanup.push(() => link.stop(0));
  await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);
  const socket = agg.sockets[0];
  if (!socket) throw new Error("the scripted aggregator saw no connection");
  for (let i = 0; i < 5; i++) {
    const pinged = new Promise((resolve) => socket.once("ping", resolve));
    clock.advance(1_000);
    await pinged; // the aggregator has answered it with a pong
    // A round trip of the aggregator's own: the agent answers this ping only after reading the
    // pong sent before it (an incoming ping is not a sign of life to the agent).
    await new Promise((resolve) => {
      socket.once("pong", resolve);
      socket.ping();
    });
    expect(link.connected()).toBe(true);
  }
  expect(link.connected()).toBe(true);
  expect(agg.connections).toBe(1);
});

it("the aggregator terminates an agent that stops answering pings", async () => {
  const clock = new ManualClock();
  const registry = createRegistry({ defaultMetrics: false });
  const server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["tok=node-a"], silentLogger()),
    handler: { handleBatch: async () => ({ dropped: 0 }) },
    clock,
    log: silentLogger(),
    metrics: createStreamMetrics(registry),
    limits: {
      maxPayloadBytes: 1 << 20,
      maxBatchEvents: 100,
      maxEventsPerSecond: 1000,
      maxConnections: 10,
      heartbeatIntervalMs: 1_000,
    },
  });
  cleanup.push(() => server.close());
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/stream`, {
    headers: { authorization: "Bearer tok" },
    autoPong: false,
  });
  const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
  await new Promise((r) => ws.once("open", r));
  ws.send(encodeEnvelope({ hello: { node: "node-a", protocolVersion: 1 } }));
  await expect
    .poll(() => server.connections()[0]?.node === "node-a", { message: "hello processed" })
    .toBe(true);
  clock.advance(1_000);
  clock.advance(1_000);
  expect(server.connections()).toHaveLength(1);
  clock.advance(1_000);
  expect(await closed).toBe(1006); // terminated, no close handshake
  await expect
    .poll(() => server.connections().length === 0, { message: "server forgot the connection" })
    .toBe(true);
});
