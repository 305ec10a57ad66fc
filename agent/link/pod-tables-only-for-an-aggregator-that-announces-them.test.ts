// The link fills Batch.pods only for an aggregator that announced batch-pod-table on the
// current connection: a real aggregator stream server announces it right after Hello (a
// capabilities-only Config when it has no agent config, which must not touch the agent's
// settings); an aggregator that never announces it gets full refs, and so does every batch
// resent after a reconnect until the new peer announces it.
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createStaticAuthenticator } from "../../aggregator/stream/auth.ts";
import { type StreamServer, startStreamServer } from "../../aggregator/stream/index.ts";
import { createStreamMetrics } from "../../aggregator/stream/metrics.ts";
import { systemClock } from "../../shared/clock.ts";
import { createLogger, silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import {
  CAPABILITY_BATCH_POD_TABLE,
  type ConfigFrame,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  type WireEvent,
  wire,
} from "../../shared/proto.ts";
import { testLink } from "./testing/harness.ts";
import { failureEvent } from "./testing/memory-outbox.ts";
import { type ScriptedAggregator, startScriptedAggregator } from "./testing/scripted-aggregator.ts";

const log = silentLogger();
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Ten events about two pods (each pod's ref shared, as the pod watch does). */
function tenEvents(from: number): WireEvent[] {
  const a = failureEvent(from, "node-a").pod;
  const b = failureEvent(from + 1, "node-a").pod;
  return Array.from({ length: 10 }, (_, i) => ({ ...failureEvent(from + i, "node-a"), pod: i % 2 ? a : b }));
}

/** A logger whose lines the test reads: the link says when an aggregator announces pod tables. */
function capturedLog() {
  const lines: { msg?: string }[] = [];
  const log = createLogger({
    level: "info",
    destination: { write: (s: string) => lines.push(JSON.parse(s)) },
  });
  const announced = () =>
    lines.filter((l) => l.msg?.startsWith("aggregator reads per-batch pod tables")).length;
  return { log, announced };
}

const plain = (e: WireEvent) => wire.Event.toObject(wire.Event.fromObject(e), { defaults: false });

async function streamServer(received: WireEvent[], config?: ConfigFrame): Promise<StreamServer> {
  const server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["tok=node-a"], log),
    handler: {
      async handleBatch(_ctx, events) {
        received.push(...events);
        return { dropped: 0 };
      },
    },
    ...(config ? { configSource: { current: () => config, onChange: () => {} } } : {}),
    clock: systemClock,
    log,
    metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
    limits: {
      maxPayloadBytes: 4 << 20,
      maxBatchEvents: 5000,
      maxEventsPerSecond: 1_000_000,
      maxConnections: 10,
      heartbeatIntervalMs: 60_000,
    },
  });
  cleanup.push(() => server.close({ drainMs: 0 }));
  return server;
}

/** An aggregator of before the pod table: acks, sends its Config without capabilities. */
async function oldAggregator(config: ConfigFrame | undefined): Promise<ScriptedAggregator> {
  const agg = await startScriptedAggregator({
    onFrame: (ws, frame, self) => {
      if (frame.hello && config) self.send(ws, { config });
      if (frame.batch) self.send(ws, { ack: { seq: frame.batch.seq } });
    },
  });
  cleanup.push(() => agg.close());
  return agg;
}

const batches = (frames: Envelope[]) =>
  frames.flatMap((f) =>
    f.batch
      ? [{ seq: f.batch.seq, pods: f.batch.pods ?? [], events: (f.batch.events ?? []) as WireEvent[] }]
      : [],
  );

describe("per-batch pod tables", () => {
  it("a new aggregator without agent config announces them; settings stay; events arrive whole", async () => {
    const received: WireEvent[] = [];
    const server = await streamServer(received);
    const configs: ConfigFrame[] = [];
    const { log: linkLog, announced } = capturedLog();
    const { link, outbox } = testLink({
      url: `ws://127.0.0.1:${server.port}/stream`,
      clock: systemClock,
      token: "tok",
      onConfig: (frame) => configs.push(frame),
      log: linkLog,
    });
    cleanup.push(() => link.stop(0));
    link.start();
    await expect.poll(() => link.connected(), { message: "link connected" }).toBe(true);
    // the announcement arrives right after Hello; wait for it before the events
    await expect.poll(announced, { message: "the aggregator's batch-pod-table announcement" }).toBe(1);
    const sent = [...tenEvents(1), ...tenEvents(11)];
    for (const e of sent) outbox.push(e);
    await expect
      .poll(() => received.length === sent.length && link.isIdle(), { message: "all events acked" })
      .toBe(true);
    expect(received.map(plain)).toEqual(sent.map(plain));
    expect(configs).toEqual([]); // capabilities only: the agent's settings are not touched
  });

  it("a new aggregator with agent config sends it with its capabilities; the agent applies it", async () => {
    const received: WireEvent[] = [];
    const server = await streamServer(received, { version: "12", cooldownSeconds: 90 });
    const configs: ConfigFrame[] = [];
    const { log: linkLog, announced } = capturedLog();
    const { link } = testLink({
      url: `ws://127.0.0.1:${server.port}/stream`,
      clock: systemClock,
      token: "tok",
      onConfig: (frame) => configs.push(frame),
      log: linkLog,
    });
    cleanup.push(() => link.stop(0));
    link.start();
    await expect.poll(() => configs.length === 1, { message: "config applied" }).toBe(true);
    expect(configs[0]).toMatchObject({
      version: "12",
      cooldownSeconds: 90,
      capabilities: [CAPABILITY_BATCH_POD_TABLE],
    });
    expect(announced()).toBe(1);
  });

  it("an old aggregator never announces them: every event carries its full pod, config applies as before", async () => {
    const agg = await oldAggregator({ version: "7", cooldownSeconds: 60 });
    const configs: ConfigFrame[] = [];
    const { log: linkLog, announced } = capturedLog();
    const { link, outbox } = testLink({
      url: agg.url,
      clock: systemClock,
      onConfig: (f) => configs.push(f),
      log: linkLog,
    });
    cleanup.push(() => link.stop(0));
    link.start();
    await expect.poll(() => configs.length === 1, { message: "config applied" }).toBe(true);
    const sent = tenEvents(1);
    for (const e of sent) outbox.push(e);
    await expect
      .poll(() => batches(agg.frames).reduce((n, b) => n + b.events.length, 0) === 10, {
        message: "events sent",
      })
      .toBe(true);
    expect(agg.frames[0]?.hello?.capabilities).toContain(CAPABILITY_BATCH_POD_TABLE);
    for (const batch of batches(agg.frames)) {
      expect(batch?.pods).toEqual([]);
      for (const e of batch?.events ?? [])
        expect(e.pod).toMatchObject({ namespace: "shop", name: expect.any(String) });
    }
    expect(announced()).toBe(0);
  });

  it("unacked table batches are resent with full refs to an aggregator that has not announced them", async () => {
    // a new aggregator that announces the table and never acks
    const fresh = await startScriptedAggregator({
      onFrame: (ws, frame, self) => {
        if (frame.hello)
          self.send(ws, { config: { capabilities: [CAPABILITY_BATCH_POD_TABLE], capabilitiesOnly: true } });
      },
    });
    cleanup.push(() => fresh.close());
    const { log: linkLog, announced } = capturedLog();
    const { link, outbox } = testLink({ url: fresh.url, clock: systemClock, log: linkLog });
    cleanup.push(() => link.stop(0));
    link.start();
    await expect.poll(announced, { message: "announcement" }).toBe(1);
    const sent = tenEvents(1);
    for (const e of sent) outbox.push(e);
    await expect.poll(() => batches(fresh.frames).length === 1, { message: "batch sent" }).toBe(true);
    const first = batches(fresh.frames)[0];
    expect(first?.pods).toHaveLength(2);
    expect(first?.events.every((e) => e.pod?.namespace === "" && e.pod?.name === "")).toBe(true);
    // the aggregator goes away; the agent reconnects to the same address, now an old one
    const port = fresh.port;
    await fresh.close();
    const old = await startScriptedAggregator({ port });
    cleanup.push(() => old.close());
    await expect.poll(() => batches(old.frames).length === 1, { message: "batch resent" }).toBe(true);
    const resent = batches(old.frames)[0];
    expect(resent?.seq).toBe(first?.seq);
    expect(resent?.pods).toEqual([]);
    expect(resent?.events.map(plain)).toEqual(sent.map(plain));
  });

  it("an old agent (no batch-pod-table in Hello) gets no capabilities-only Config from a new aggregator", async () => {
    const received: WireEvent[] = [];
    const server = await streamServer(received);
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/stream`, {
      headers: { authorization: "Bearer tok" },
      perMessageDeflate: false,
    });
    cleanup.push(async () => ws.terminate());
    const answers: Envelope[] = [];
    ws.on("message", (data: Buffer) => answers.push(decodeEnvelope(data)));
    await new Promise((r) => ws.once("open", r));
    ws.send(encodeEnvelope({ hello: { node: "node-a", protocolVersion: 1, capabilities: ["pod-failure"] } }));
    ws.send(encodeEnvelope({ batch: { seq: 1, events: [failureEvent(1, "node-a")] } }));
    await expect.poll(() => answers.length > 0, { message: "an answer" }).toBe(true);
    expect(answers[0]?.body).toBe("ack");
    expect(answers.some((a) => a.config)).toBe(false);
  });
});
