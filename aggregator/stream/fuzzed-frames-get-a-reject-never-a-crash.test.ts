import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { failureEvent } from "../../agent/link/testing/memory-outbox.ts";
import { buildBatch } from "../../agent/link/unacked.ts";
import { ManualClock, systemClock } from "../../shared/clock.ts";
import { ERRORS } from "../../shared/errors.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { decodeEnvelope, encodeEnvelope, PROTOCOL_VERSION } from "../../shared/proto.ts";
import { createStaticAuthenticator } from "./auth.ts";
import { FrameHandler, type FrameOutcome, peekBatchSeq } from "./frame-handler.ts";
import { createStreamMetrics, type StreamServer, startStreamServer } from "./index.ts";

const NODE = "node-a";
const limits = { maxPayloadBytes: 64 * 1024, maxBatchEvents: 50, maxEventsPerSecond: 1_000_000 };
const hello = encodeEnvelope({
  hello: { node: NODE, agentVersion: "fuzz", protocolVersion: PROTOCOL_VERSION },
});
const batch = (seq: number, n: number): Uint8Array =>
  encodeEnvelope({
    batch: { seq, events: Array.from({ length: n }, (_, i) => failureEvent(seq * 100 + i, NODE)) },
  });
// A copy: encodeEnvelope returns a Buffer, whose slice() is a view, and the fuzzer mutates copies.
const validBatch = new Uint8Array(batch(7, 3));
// The same kind of batch with a pod table (Batch.pods, uid-only events), as the agent frames it
// for an aggregator that announced batch-pod-table.
const validTableBatch = new Uint8Array(
  buildBatch(
    8,
    [1, 2, 3, 4].map((i) => ({ ...failureEvent(800 + i, NODE), pod: failureEvent(800 + (i % 2), NODE).pod })),
    1,
    { podTable: true },
  ).frame,
);

/** Varint-encoded protobuf tag. */
const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n;
  while (v > 127) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};

const frames = fc.oneof(
  // random bytes
  fc.uint8Array({ maxLength: 600 }),
  // a valid frame truncated anywhere
  fc.nat(validBatch.length - 1).map((cut) => validBatch.slice(0, cut)),
  // a valid frame with bytes overwritten
  fc
    .array(fc.tuple(fc.nat(validBatch.length - 1), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 8,
    })
    .map((edits) => {
      const copy = validBatch.slice();
      for (const [at, value] of edits) copy[at] = value;
      return copy;
    }),
  // a pod-table batch truncated anywhere, or with bytes overwritten
  fc.nat(validTableBatch.length - 1).map((cut) => validTableBatch.slice(0, cut)),
  fc
    .array(fc.tuple(fc.nat(validTableBatch.length - 1), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 8,
    })
    .map((edits) => {
      const copy = validTableBatch.slice();
      for (const [at, value] of edits) copy[at] = value;
      return copy;
    }),
  // a length-delimited field claiming a huge length
  fc
    .tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 2 ** 20, max: 2 ** 35 }))
    .map(([field, len]) => Uint8Array.from([...varint((field << 3) | 2), ...varint(len), 1, 2, 3])),
  // a valid frame followed by unknown fields of every wire type (must still decode)
  fc
    .array(
      fc.tuple(
        fc.integer({ min: 100, max: 5000 }),
        fc.constantFrom(0, 1, 2, 5),
        fc.uint8Array({ maxLength: 16 }),
      ),
      { maxLength: 4 },
    )
    .map((extras) => {
      const tail: number[] = [];
      for (const [field, type, payload] of extras) {
        tail.push(...varint(field * 8 + type));
        if (type === 0) tail.push(...varint(payload.length));
        else if (type === 1) tail.push(...new Array(8).fill(7));
        else if (type === 5) tail.push(1, 2, 3, 4);
        else tail.push(...varint(payload.length), ...payload);
      }
      return Uint8Array.from([...validBatch, ...tail]);
    }),
);

function checkOutcome(outcome: FrameOutcome): void {
  if (outcome.kind === "reject") {
    expect(Object.keys(ERRORS)).toContain(outcome.code);
    expect(outcome.detail.length).toBeGreaterThan(0);
  } else if (outcome.kind === "batch") {
    for (const event of outcome.events) expect(event.pod?.node).toBe(NODE);
  } else expect(outcome.kind).toBe("hello");
}

describe("frame handler under fuzzing", () => {
  it("answers thousands of hostile first frames with a Reject code or a clean Hello", () => {
    fc.assert(
      fc.property(frames, fc.boolean(), (bytes, binary) => {
        const handler = new FrameHandler({ limits, clock: new ManualClock() });
        const outcome = handler.handle(bytes, binary);
        checkOutcome(outcome);
        if (outcome.kind === "reject") expect(handler.handle(hello, true)).toEqual({ kind: "ignored" });
      }),
      { numRuns: 3000 },
    );
  });

  it("answers thousands of hostile frames after Hello with a Reject code or a clean batch", () => {
    let batches = 0;
    fc.assert(
      fc.property(frames, (bytes) => {
        const handler = new FrameHandler({ boundNode: NODE, limits, clock: new ManualClock() });
        expect(handler.handle(hello, true).kind).toBe("hello");
        const outcome = handler.handle(bytes, true);
        checkOutcome(outcome);
        if (outcome.kind === "batch") batches++;
      }),
      { numRuns: 5000 },
    );
    // valid frames with unknown fields appended are part of the mix and must decode
    expect(batches).toBeGreaterThan(100);
  });

  it("refuses an oversized frame, an overfull batch and a foreign pod with their catalog codes", () => {
    const make = () => {
      const h = new FrameHandler({ boundNode: NODE, limits, clock: new ManualClock() });
      h.handle(hello, true);
      return h;
    };
    expect(make().handle(new Uint8Array(limits.maxPayloadBytes + 1), true)).toMatchObject({
      code: "KG_FRAME_TOO_LARGE",
    });
    expect(make().handle(batch(1, 51), true)).toMatchObject({ code: "KG_BATCH_TOO_MANY_EVENTS", seq: 1 });
    const foreign = encodeEnvelope({ batch: { seq: 2, events: [failureEvent(1, "node-b")] } });
    expect(make().handle(foreign, true)).toMatchObject({ code: "KG_NODE_MISMATCH", seq: 2 });
    expect(make().handle(Buffer.from("hello"), false)).toMatchObject({ code: "KG_FRAME_NOT_BINARY" });
    expect(make().handle(encodeEnvelope({ ack: { seq: 1 } }), true)).toMatchObject({
      code: "KG_FRAME_UNEXPECTED",
    });
    const bound = new FrameHandler({ boundNode: "node-b", limits, clock: new ManualClock() });
    expect(bound.handle(hello, true)).toMatchObject({ code: "KG_NODE_MISMATCH" });
  });

  it("reads the sequence number of any batch frame without decoding it, and never throws on garbage", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 52 }), fc.nat(5), (seq, n) => {
        expect(peekBatchSeq(batch(seq, n))).toBe(seq);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(frames, (bytes) => {
        const seq = peekBatchSeq(bytes);
        expect(seq === undefined || (Number.isSafeInteger(seq) && seq > 0)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("rate-limits a connection by events with a four-second burst and refills with time", () => {
    const clock = new ManualClock();
    const h = new FrameHandler({ boundNode: NODE, limits: { ...limits, maxEventsPerSecond: 10 }, clock });
    h.handle(hello, true);
    for (let seq = 1; seq <= 8; seq++) expect(h.handle(batch(seq, 5), true).kind).toBe("batch");
    expect(h.handle(batch(9, 5), true)).toMatchObject({ code: "KG_RATE_LIMITED", seq: 9 });
    const fresh = new FrameHandler({ boundNode: NODE, limits: { ...limits, maxEventsPerSecond: 10 }, clock });
    fresh.handle(hello, true);
    for (let seq = 1; seq <= 8; seq++) fresh.handle(batch(seq, 5), true);
    clock.advance(500);
    expect(fresh.handle(batch(9, 5), true).kind).toBe("batch");
  });
});

describe("stream server under fuzzing over real sockets", () => {
  let server: StreamServer;
  const registry = createRegistry({ defaultMetrics: false });
  const acked: number[] = [];

  beforeAll(async () => {
    server = await startStreamServer({
      port: 0,
      host: "127.0.0.1",
      auth: createStaticAuthenticator([`fuzz=${NODE}`], silentLogger()),
      handler: { handleBatch: async () => ({ dropped: 0 }) },
      clock: systemClock,
      log: silentLogger(),
      metrics: createStreamMetrics(registry),
      limits: { ...limits, maxConnections: 50, heartbeatIntervalMs: 60_000 },
    });
  });
  afterAll(() => server.close());

  /** Sends Hello + one frame on a fresh connection; resolves with what came back. */
  function session(frame: Uint8Array): Promise<{ replies: string[]; closeCode: number }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/stream`, {
        perMessageDeflate: false,
        headers: { authorization: "Bearer fuzz" },
      });
      const replies: string[] = [];
      ws.on("open", () => {
        ws.send(hello);
        ws.send(frame);
      });
      ws.on("message", (data: Buffer) => {
        const envelope = decodeEnvelope(data);
        if (envelope.ack) {
          acked.push(envelope.ack.seq ?? 0);
          replies.push("ack");
          ws.close();
        } else replies.push(envelope.reject?.code ?? envelope.body ?? "?");
      });
      ws.on("error", () => {});
      ws.on("close", (closeCode) => resolve({ replies, closeCode }));
      setTimeout(() => reject(new Error("session hung")), 10_000).unref();
    });
  }

  it("rejects a few hundred hostile frames each with a code and keeps serving", async () => {
    const samples = fc.sample(frames, { numRuns: 300, seed: 42 });
    samples.push(new Uint8Array(limits.maxPayloadBytes + 10));
    for (const frame of samples) {
      const { replies, closeCode } = await session(frame);
      if (replies[0] === "ack") continue;
      if (closeCode === 1009) continue; // ws refuses oversized frames itself; counted below
      expect(replies).toHaveLength(1);
      const code = replies[0] as keyof typeof ERRORS;
      expect(ERRORS[code]).toBeDefined();
      expect(closeCode).toBe(ERRORS[code].closeCode);
    }
    expect(acked.length).toBeGreaterThan(10);
    const again = await session(validBatch);
    expect(again.replies).toEqual(["ack"]);
    const rejects =
      (await registry.getSingleMetric("kernel_gossip_aggregator_rejects_total")?.get())?.values ?? [];
    const total = rejects.reduce((n, v) => n + v.value, 0);
    expect(total).toBe(samples.length + 1 - acked.length);
    expect(rejects.find((v) => v.labels.code === "KG_FRAME_TOO_LARGE")?.value).toBeGreaterThanOrEqual(1);
  });

  it("a frame header claiming a length of 2^53 or more is closed with 1009 and counted as KG_FRAME_TOO_LARGE", async () => {
    const metric = async (code: string): Promise<number> =>
      ((await registry.getSingleMetric("kernel_gossip_aggregator_rejects_total")?.get())?.values ?? []).find(
        (v) => v.labels.code === code,
      )?.value ?? 0;
    const [large, malformed] = [await metric("KG_FRAME_TOO_LARGE"), await metric("KG_FRAME_MALFORMED")];
    // A raw client: ws's own client never sends such a header. Upgrade, then a masked
    // binary frame header with the 64-bit length 2^53.
    const closeCode = await new Promise<number>((resolve, reject) => {
      const socket = connect(server.port, "127.0.0.1");
      let buffered = Buffer.alloc(0);
      socket.on("error", reject);
      socket.on("data", (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        const text = buffered.toString("latin1");
        const end = text.indexOf("\r\n\r\n");
        if (end === -1) return;
        if (!text.startsWith("HTTP/1.1 101")) return reject(new Error(text.slice(0, 200)));
        const frames = buffered.subarray(end + 4);
        // A close frame from the server: opcode 0x8, payload starts with the close code.
        const at = frames.indexOf(0x88);
        if (at !== -1 && frames.length >= at + 4) resolve(frames.readUInt16BE(at + 2));
      });
      socket.once("connect", () => {
        socket.write(
          `GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer fuzz\r\n\r\n`,
        );
        const mask = Buffer.from([1, 2, 3, 4]);
        const huge = Buffer.from([0x82, 0x80 | 127, 0x00, 0x20, 0, 0, 0, 0, 0, 0]); // 2^53
        socket.write(Buffer.concat([huge, mask]));
      });
      setTimeout(() => reject(new Error("no close frame")), 10_000).unref();
    });
    expect(closeCode).toBe(1009);
    await vi.waitFor(async () => expect(await metric("KG_FRAME_TOO_LARGE")).toBe(large + 1));
    expect(await metric("KG_FRAME_MALFORMED")).toBe(malformed);
  });
});
