import { request } from "node:http";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { failureEvent } from "../../agent/link/testing/memory-outbox.ts";
import { ManualClock, systemClock } from "../../shared/clock.ts";
import { createLogger, silentLogger } from "../../shared/log.ts";
import { createRegistry, type Registry } from "../../shared/metrics.ts";
import { type ConfigFrame, decodeEnvelope, type Envelope, encodeEnvelope } from "../../shared/proto.ts";
import { createStaticAuthenticator } from "./auth.ts";
import {
  createStreamMetrics,
  type StreamBatchHandler,
  type StreamServer,
  startStreamServer,
} from "./index.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function start(options: {
  registry?: Registry;
  handler?: StreamBatchHandler;
  maxConnections?: number;
  config?: { frame?: ConfigFrame; listeners: ((c: ConfigFrame) => void)[] };
  log?: ReturnType<typeof silentLogger>;
}): Promise<StreamServer> {
  const log = options.log ?? silentLogger();
  const server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["tok=node-a", "any"], log),
    handler: options.handler ?? { handleBatch: async () => ({ dropped: 0 }) },
    ...(options.config
      ? {
          configSource: {
            current: () => options.config?.frame,
            onChange: (l: (c: ConfigFrame) => void) => void options.config?.listeners.push(l),
          },
        }
      : {}),
    clock: new ManualClock(),
    log,
    metrics: createStreamMetrics(options.registry ?? createRegistry({ defaultMetrics: false })),
    limits: {
      maxPayloadBytes: 1 << 20,
      maxBatchEvents: 100,
      maxEventsPerSecond: 1000,
      maxConnections: options.maxConnections ?? 10,
      heartbeatIntervalMs: 60_000,
    },
  });
  cleanup.push(() => server.close());
  return server;
}

/** The HTTP answer to an upgrade request, when the server refuses it. */
function upgrade(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("upgrade", () => reject(new Error("upgraded")));
    req.on("error", reject);
    req.end();
  });
}

class Agent {
  frames: Envelope[] = [];
  ws: WebSocket;
  closed: Promise<number>;
  constructor(port: number, token = "tok") {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/stream`, {
      headers: { authorization: `Bearer ${token}` },
    });
    this.ws.on("message", (d: Buffer) => this.frames.push(decodeEnvelope(d)));
    this.closed = new Promise((r) => this.ws.on("close", (code) => r(code)));
  }
  async open(node = "node-a"): Promise<this> {
    await new Promise((r) => this.ws.once("open", r));
    this.ws.send(encodeEnvelope({ hello: { node, protocolVersion: 1 } }));
    return this;
  }
  /** Resolves once the server has read every frame sent before (ws answers a ping in order). */
  roundTrip(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.once("pong", () => resolve());
      this.ws.ping();
    });
  }
  batch(seq: number, n = 1): void {
    this.ws.send(
      encodeEnvelope({
        batch: { seq, events: Array.from({ length: n }, (_, i) => failureEvent(seq * 10 + i, "node-a")) },
      }),
    );
  }
}

describe("upgrade refusals", () => {
  it("no token → 401 with the code in a JSON body, counted by code", async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const server = await start({ registry });
    const res = await upgrade(server.port, "/stream");
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({
      code: "KG_AUTH_MISSING",
      hint: expect.stringContaining("projected"),
    });
    const wrong = await upgrade(server.port, "/stream", "nope");
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body).code).toBe("KG_AUTH_INVALID");
    const rejects = (await registry.getSingleMetric("kernel_gossip_aggregator_rejects_total")?.get())?.values;
    expect(rejects?.map((v) => [v.labels.code, v.value]).sort()).toEqual([
      ["KG_AUTH_INVALID", 1],
      ["KG_AUTH_MISSING", 1],
    ]);
    expect((await upgrade(server.port, "/other", "tok")).status).toBe(404);
  });

  it("beyond maxConnections → 503 KG_TOO_MANY_CONNECTIONS; a slot frees when an agent leaves", async () => {
    const server = await start({ maxConnections: 2 });
    const a = await new Agent(server.port).open();
    await new Agent(server.port).open();
    await expect.poll(() => server.connections().length === 2, { message: "two agents" }).toBe(true);
    const res = await upgrade(server.port, "/stream", "tok");
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body).code).toBe("KG_TOO_MANY_CONNECTIONS");
    a.ws.close();
    await expect.poll(() => server.connections().length === 1, { message: "one left" }).toBe(true);
    const c = await new Agent(server.port).open();
    await expect.poll(() => server.connections().length === 2, { message: "third admitted" }).toBe(true);
    c.ws.close();
  });

  it("static token mode warns at start-up that it is not for production", async () => {
    const lines: { level: string; msg: string }[] = [];
    const destination = new Writable({
      write(chunk, _e, done) {
        for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    });
    await start({ log: createLogger({ destination }) });
    await expect.poll(() => lines.length > 0, { message: "log line" }).toBe(true);
    expect(lines.find((l) => l.level === "warn")?.msg).toMatch(/NOT for production/);
  });
});

describe("acks, failures, config and shutdown", () => {
  it("acks only after the handler resolved; a failed batch is not acked and the connection closes", async () => {
    let fail = false;
    const server = await start({
      handler: {
        handleBatch: async () => {
          if (fail) throw new Error("apiserver 500");
          return { dropped: 1 };
        },
      },
    });
    const agent = await new Agent(server.port).open();
    agent.batch(1, 3);
    await expect.poll(() => agent.frames.some((f) => f.ack), { message: "ack" }).toBe(true);
    expect(agent.frames.find((f) => f.ack)?.ack).toMatchObject({ seq: 1, dropped: 1 });
    fail = true;
    agent.batch(2);
    expect(await agent.closed).toBe(1011);
    expect(agent.frames.filter((f) => f.ack)).toHaveLength(1);
  });

  it("pushes Config after Hello and to every connected agent on change", async () => {
    const config = {
      frame: { version: "1", cooldownSeconds: 60 } as ConfigFrame,
      listeners: [] as ((c: ConfigFrame) => void)[],
    };
    const server = await start({ config });
    const a = await new Agent(server.port).open();
    const b = await new Agent(server.port, "any").open("node-z");
    await expect
      .poll(() => a.frames.length === 1 && b.frames.length === 1, { message: "initial config" })
      .toBe(true);
    expect(a.frames[0]?.config?.version).toBe("1");
    config.frame = { version: "2", maxBatchEvents: 200 };
    for (const l of config.listeners) l(config.frame);
    await expect
      .poll(() => a.frames.length === 2 && b.frames.length === 2, { message: "pushed config" })
      .toBe(true);
    expect(b.frames[1]?.config).toMatchObject({ version: "2", maxBatchEvents: 200 });
  });

  const shutdownServer = (handleBatch: StreamBatchHandler["handleBatch"]) =>
    startStreamServer({
      port: 0,
      host: "127.0.0.1",
      auth: createStaticAuthenticator(["tok=node-a"], silentLogger()),
      handler: { handleBatch },
      clock: systemClock,
      log: silentLogger(),
      metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
      limits: {
        maxPayloadBytes: 1 << 20,
        maxBatchEvents: 100,
        maxEventsPerSecond: 1000,
        maxConnections: 10,
        heartbeatIntervalMs: 60_000,
      },
    });

  it("close() lets batches in flight finish and acks them, then tells agents KG_SHUTTING_DOWN", async () => {
    let release: (() => void) | undefined;
    const handled: number[] = [];
    const server = await shutdownServer(async (ctx) => {
      handled.push(ctx.seq);
      await new Promise<void>((r) => {
        release = r;
      });
      return { dropped: 0 };
    });
    const agent = await new Agent(server.port).open();
    agent.batch(1);
    await expect.poll(() => handled.length === 1, { message: "batch 1 in flight" }).toBe(true);
    const closing = server.close({ drainMs: 10_000 });
    agent.batch(2); // arrives while draining: not handled, never acked (the agent resends it)
    await agent.roundTrip(); // the server has read batch 2
    release?.(); // the pipeline's flush wrote batch 1
    await closing;
    expect(await agent.closed).toBe(1001);
    expect(handled).toEqual([1]);
    expect(agent.frames.map((f) => f.body)).toEqual(["ack", "reject"]);
    expect(agent.frames[0]?.ack?.seq).toBe(1);
    expect(agent.frames[1]?.reject?.code).toBe("KG_SHUTTING_DOWN");
  });

  it("close() never acks a batch not written by the drain deadline", async () => {
    const writes: Promise<{ dropped: number }>[] = [];
    // A write that takes 400 ms, far past the 50 ms drain deadline.
    const server = await shutdownServer(() => {
      writes.push(new Promise((r) => setTimeout(() => r({ dropped: 0 }), 400)));
      return writes[0] as Promise<{ dropped: number }>;
    });
    const agent = await new Agent(server.port).open();
    agent.batch(1);
    await expect.poll(() => writes.length, { message: "batch 1 handed to the pipeline" }).toBe(1);
    await server.close({ drainMs: 50 });
    expect(await agent.closed).toBe(1001);
    await writes[0]; // the write finished after the deadline: still no ack
    expect(agent.frames.map((f) => f.body)).toEqual(["reject"]);
    expect(agent.frames[0]?.reject?.code).toBe("KG_SHUTTING_DOWN");
  });
});
