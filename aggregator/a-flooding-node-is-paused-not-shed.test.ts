// Issue 12, backpressure before shedding: through real WebSockets on loopback, the real
// stream server and the real pipeline and writer against the local API server, one agent
// floods the writer with new objects (400 batches, about 2.6 MB held while waiting, sent at once, ignoring its window) while
// writes wait for the rate limit; another node's 10 crash loops, sent in the middle of the
// flood, are written and acked with nothing dropped. The writer's bytes stay under
// --max-pending-bytes because the stream stops reading the flooding node's socket (gauge
// connections_paused{reason="pending_bytes"}, one warn line naming it), not because anything
// is shed: every flood event is written in the end, none dropped, and the socket is read again.
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { systemClock } from "../shared/clock.ts";
import { createLogger } from "../shared/log.ts";
import { createRegistry } from "../shared/metrics.ts";
import { decodeEnvelope, encodeEnvelope, PROTOCOL_VERSION, type WireEvent } from "../shared/proto.ts";
import { createPipelineMetrics } from "./pipeline/metrics.ts";
import {
  crashLoop,
  getJson,
  startTestCluster,
  type TestCluster,
  type TestPod,
  testPipeline,
} from "./pipeline/testing.ts";
import {
  createStaticAuthenticator,
  createStreamMetrics,
  STREAM_PATH,
  startStreamServer,
} from "./stream/index.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "flood-paused");
  await cluster.kubectl("create", "namespace", "shop-paused");
}, 60_000);
afterAll(async () => cluster?.close());

const FLOOD = 400;
const flooder: TestPod = {
  uid: "flood-uid-paused",
  namespace: "flood-paused",
  name: "flood-1",
  node: "node-a",
  labels: { "workload-id": "flood" },
};
const shop: TestPod = {
  uid: "shop-uid-paused",
  namespace: "shop-paused",
  name: "checkout-1",
  node: "node-b",
  labels: { "workload-id": "checkout" },
};

/** 20 events with ids at the edge's limit, about 21 KB held while waiting: one new object each. */
function floodBatch(i: number): WireEvent[] {
  return Array.from({ length: 20 }, (_, k) => {
    const ev = crashLoop(flooder, `c-${i}`, k + 1);
    ev.id = `${ev.id}/`.padEnd(512, "x");
    return ev;
  });
}

/** An agent on a real socket: Hello, then batches; collects the acks by seq. */
async function agent(port: number, token: string, node: string) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${STREAM_PATH}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const acks = new Map<number, number>();
  ws.on("message", (data: Buffer) => {
    const env = decodeEnvelope(new Uint8Array(data));
    if (env.ack) acks.set(Number(env.ack.seq), Number(env.ack.dropped ?? 0));
  });
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  ws.send(encodeEnvelope({ hello: { node, protocolVersion: PROTOCOL_VERSION, instanceId: `${node}-1` } }));
  return {
    acks,
    send: (seq: number, events: WireEvent[]) => ws.send(encodeEnvelope({ batch: { seq, events } })),
    close: () => ws.close(),
  };
}

async function sample(
  registry: ReturnType<typeof createRegistry>,
  name: string,
  labels = "",
): Promise<number> {
  const text = await registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return Number(line?.split(" ")[1] ?? 0);
}

it("a node flooding the writer past --max-pending-bytes is paused, not shed; another node's crash loops are written and acked", async () => {
  const registry = createRegistry({ defaultMetrics: false });
  const lines: { msg: string; level: number; nodes?: string[] }[] = [];
  const log = createLogger({
    level: "info",
    destination: { write: (s: string) => lines.push(JSON.parse(s)) },
  });
  const maxBytes = 2 << 20;
  const pipeline = testPipeline(cluster.kubeConfig, {
    metrics: createPipelineMetrics(registry),
    log,
    settings: { writeQps: 50, writeBurst: 5, maxPendingBytes: maxBytes },
  });
  pipeline.start();
  const stream = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["token-a=node-a", "token-b=node-b"], log),
    handler: pipeline,
    pressure: pipeline.writer.pressure,
    clock: systemClock,
    log,
    metrics: createStreamMetrics(registry),
    limits: {
      maxPayloadBytes: 4 << 20,
      maxBatchEvents: 5000,
      maxEventsPerSecond: 1_000_000,
      maxConnections: 10,
      heartbeatIntervalMs: 60_000,
    },
  });
  const a = await agent(stream.port, "token-a", "node-a");
  const b = await agent(stream.port, "token-b", "node-b");
  let highest = 0;
  let pausedSeen = 0;
  let shopSent = 0;
  for (let i = 0; i < FLOOD; i++) {
    a.send(i + 1, floodBatch(i));
    if (i % (FLOOD / 10) === FLOOD / 20) {
      shopSent++;
      b.send(shopSent, [crashLoop(shop, "app", shopSent)]);
    }
    if (i % 20 === 0) await new Promise((r) => setImmediate(r));
  }
  expect(shopSent).toBe(10);
  const watch = setInterval(() => {
    highest = Math.max(highest, pipeline.writer.heldBytes);
    void sample(registry, "kernel_gossip_aggregator_connections_paused", '{reason="pending_bytes"}').then(
      (n) => {
        pausedSeen = Math.max(pausedSeen, n);
      },
    );
  }, 20);
  try {
    // node-b's 10 crash loops are acked with nothing dropped, and written, while node-a waits.
    await expect.poll(() => b.acks.size, { timeout: 60_000 }).toBe(10);
    expect([...b.acks.values()]).toEqual(Array.from({ length: 10 }, () => 0));
    expect(a.acks.size).toBeLessThan(FLOOD);
    expect((await getJson(cluster, "kw", shop.namespace)).map((w) => w.status.count)).toEqual([10]);
    // The flooder was paused (only it), nothing was shed, and every flood event is written in the end.
    await expect.poll(() => a.acks.size, { timeout: 90_000 }).toBe(FLOOD);
    expect([...a.acks.values()].reduce((n, d) => n + d, 0)).toBe(0);
    expect(pausedSeen).toBe(1);
    expect(highest).toBeLessThanOrEqual(maxBytes);
    expect(highest).toBeGreaterThan(0);
    expect(
      await sample(registry, "kernel_gossip_aggregator_events_dropped_total", '{reason="shed_bytes"}'),
    ).toBe(0);
    const pausing = lines.filter((l) => l.msg.includes("stopped reading from"));
    expect(pausing.length).toBeGreaterThan(0);
    expect([...new Set(pausing.flatMap((l) => l.nodes ?? []))]).toEqual(["node-a"]);
    expect(pausing[0]?.msg).toContain("--max-pending-bytes");
    expect(lines.some((l) => l.msg.includes("paused agent connection(s) again"))).toBe(true);
    const flood = await getJson(cluster, "kw", flooder.namespace);
    expect(flood.reduce((n, w) => n + w.status.count, 0)).toBe(FLOOD * 20);
    expect(
      await sample(registry, "kernel_gossip_aggregator_connections_paused", '{reason="pending_bytes"}'),
    ).toBe(0);
  } finally {
    clearInterval(watch);
    a.close();
    b.close();
    await stream.close({ drainMs: 0 });
    await pipeline.stop();
  }
}, 180_000);
