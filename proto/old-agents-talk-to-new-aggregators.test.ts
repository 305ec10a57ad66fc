// Compatibility rules of proto/README.md, proven with bytes: a hand-written "v0" subset of the
// schema (an old agent) and a "v2" superset with fields this build does not know (a future
// agent) are compiled at test time, and their bytes go through the current decoder and the
// aggregator's frame handler — and the current bytes through theirs.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import protobuf from "protobufjs";
import { afterAll, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { testLink } from "../agent/link/testing/harness.ts";
import { failureEvent } from "../agent/link/testing/memory-outbox.ts";
import { FrameHandler } from "../aggregator/stream/frame-handler.ts";
import { ManualClock } from "../shared/clock.ts";
import { CAPABILITY_BATCH_POD_TABLE, decodeEnvelope, encodeEnvelope } from "../shared/proto.ts";

// What the very first agents spoke: fewer fields, no protocol_version, no config.
const V0 = `
syntax = "proto3";
package kernelgossip.v1;
message Envelope { oneof body { Hello hello = 1; Batch batch = 2; Ack ack = 3; } }
message Hello { string node = 1; string cluster = 2; string agent_version = 3; }
message Batch { uint64 seq = 1; repeated Event events = 2; }
message Ack { uint64 seq = 1; }
message PodRef { string uid = 1; string namespace = 2; string name = 3; string node = 4; }
message Event {
  string id = 1; PodRef pod = 2; string container = 3; uint64 observed_at_ms = 4; uint32 count = 5;
  oneof kind { PodFailure failure = 10; }
}
message PodFailure { string reason = 1; int32 exit_code = 2; uint32 restart_count = 5; }
`;

// A future agent: new fields everywhere, a new event kind and a new frame type.
const V2 = `
syntax = "proto3";
package kernelgossip.v1;
message Envelope {
  oneof body { Hello hello = 1; Batch batch = 2; Ack ack = 3; Config config = 4; Reject reject = 5; Resume resume = 6; }
}
message Hello {
  string node = 1; string cluster = 2; string agent_version = 3; uint32 protocol_version = 4;
  repeated string capabilities = 5; uint64 last_acked_seq = 6; string config_version = 7; string cgroup_layout = 8;
  string kernel_release = 9; map<string, string> node_labels = 10;
}
message Resume { uint64 from_seq = 1; }
message Batch {
  uint64 seq = 1; repeated Event events = 2; uint64 sent_at_ms = 3; repeated PodRef pods = 4; bytes compression_hint = 5;
}
message Ack { uint64 seq = 1; uint32 dropped = 2; }
message Config { string version = 1; uint32 cooldown_seconds = 2; }
message Reject { string code = 1; string message = 2; uint64 seq = 3; }
message PodRef {
  string uid = 1; string namespace = 2; string name = 3; string node = 4; map<string, string> labels = 5;
  string priority_class = 20;
}
message Event {
  string id = 1; PodRef pod = 2; string container = 3; uint64 observed_at_ms = 4; uint32 count = 5;
  oneof kind { PodFailure failure = 10; PsiStall psi = 19; }
  string trace_id = 15; repeated double extra = 16;
}
message PodFailure { string reason = 1; int32 exit_code = 2; uint32 restart_count = 5; string termination_log = 30; }
message PsiStall { double some_avg10 = 1; }
`;

const v0 = protobuf.parse(V0, { keepCase: false }).root.lookupType("kernelgossip.v1.Envelope");
const v2 = protobuf.parse(V2, { keepCase: false }).root.lookupType("kernelgossip.v1.Envelope");
const limits = { maxPayloadBytes: 1 << 20, maxBatchEvents: 100, maxEventsPerSecond: 10_000 };
const encodeWith = (type: protobuf.Type, value: object): Uint8Array =>
  type.encode(type.fromObject(value)).finish();

function aggregatorSession(hello: Uint8Array, batch: Uint8Array) {
  const handler = new FrameHandler({ limits, clock: new ManualClock() });
  return [handler.handle(hello, true), handler.handle(batch, true)];
}

describe("old agent → new aggregator", () => {
  it("a v0 agent's Hello and Batch decode and are accepted; missing fields read as defaults", () => {
    const hello = encodeWith(v0, { hello: { node: "node-a", cluster: "c", agentVersion: "0.0.1" } });
    const batch = encodeWith(v0, {
      batch: {
        seq: 3,
        events: [
          {
            id: "u1/app/2/CrashLoopBackOff",
            pod: { uid: "u1", namespace: "shop", name: "cart-1", node: "node-a" },
            container: "app",
            observedAtMs: 1_767_225_600_000,
            count: 2,
            failure: { reason: "CrashLoopBackOff", exitCode: 1, restartCount: 2 },
          },
        ],
      },
    });
    const [h, b] = aggregatorSession(hello, batch);
    expect(h).toMatchObject({
      kind: "hello",
      node: "node-a",
      hello: { protocolVersion: 0, configVersion: "" },
    });
    expect(b?.kind).toBe("batch");
    if (b?.kind !== "batch") return;
    const event = b.events[0];
    expect(event?.failure).toMatchObject({
      reason: "CrashLoopBackOff",
      exitCode: 1,
      restartCount: 2,
      lastReason: "",
    });
    expect(event?.observedAtMs).toBe(1_767_225_600_000);
    expect(event?.pod?.labels).toEqual({});
  });

  it("a v0 agent decodes the current aggregator's Ack and skips the Config it does not know", () => {
    const ack = v0.toObject(v0.decode(encodeEnvelope({ ack: { seq: 3, dropped: 1 } })));
    expect(ack).toEqual({ ack: { seq: 3 } });
    const config = v0.toObject(v0.decode(encodeEnvelope({ config: { version: "7", cooldownSeconds: 60 } })));
    expect(config).toEqual({});
  });
});

describe("future agent → current aggregator", () => {
  const hello = encodeWith(v2, {
    hello: { node: "node-a", protocolVersion: 1, kernelRelease: "6.8.0", nodeLabels: { zone: "a" } },
  });
  const batch = encodeWith(v2, {
    batch: {
      seq: 9,
      compressionHint: Buffer.from("zstd"),
      events: [
        {
          id: "u2/app/4/CrashLoopBackOff",
          pod: {
            uid: "u2",
            namespace: "shop",
            name: "cart-2",
            node: "node-a",
            labels: { app: "cart" },
            priorityClass: "high",
          },
          count: 1,
          failure: { reason: "CrashLoopBackOff", restartCount: 4, terminationLog: "panic: nil map" },
          traceId: "abc",
          extra: [1.5, 2.5],
        },
      ],
    },
  });

  it("ignores unknown fields in Hello, Batch, Event, PodRef and PodFailure and keeps the known ones", () => {
    const [h, b] = aggregatorSession(hello, batch);
    expect(h?.kind).toBe("hello");
    expect(b?.kind).toBe("batch");
    if (b?.kind !== "batch") return;
    expect(b.seq).toBe(9);
    expect(b.events[0]?.pod).toMatchObject({ name: "cart-2", labels: { app: "cart" } });
    expect(b.events[0]?.failure).toMatchObject({ reason: "CrashLoopBackOff", restartCount: 4 });
    // re-encoding what this build understood drops what it did not
    expect(encodeEnvelope(decodeEnvelope(batch)).length).toBeLessThan(batch.length);
  });

  it("an event of an unknown kind arrives as an event without a kind; an unknown frame type is refused with a code", () => {
    const psi = encodeWith(v2, {
      batch: {
        seq: 10,
        events: [{ id: "u3/psi", pod: { uid: "u3", node: "node-a" }, psi: { someAvg10: 3.5 } }],
      },
    });
    const [, b] = aggregatorSession(hello, psi);
    expect(b?.kind).toBe("batch");
    if (b?.kind === "batch") expect(b.events[0]?.kind).toBeUndefined();
    const [, resume] = aggregatorSession(hello, encodeWith(v2, { resume: { fromSeq: 3 } }));
    expect(resume).toMatchObject({ kind: "reject", code: "KG_FRAME_UNEXPECTED" });
  });

  const haveProtoc = spawnSync("protoc", ["--version"]).status === 0;
  const dir = mkdtempSync(join(tmpdir(), "kg-proto-v2-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!haveProtoc)("bytes protoc encodes from the v2 schema decode in the current code", () => {
    writeFileSync(join(dir, "v2.proto"), V2);
    const bytes = execFileSync("protoc", ["--encode", "kernelgossip.v1.Envelope", "-I", dir, "v2.proto"], {
      input:
        'batch { seq: 11 events { id: "u4/app/1/OOMKilled" pod { node: "node-a" priority_class: "x" } trace_id: "t" failure { reason: "OOMKilled" termination_log: "oom" } } }',
    });
    const decoded = decodeEnvelope(bytes);
    expect(decoded.batch?.seq).toBe(11);
    expect(decoded.batch?.events?.[0]).toMatchObject({
      id: "u4/app/1/OOMKilled",
      failure: { reason: "OOMKilled" },
    });
  });
});

// The schema as it was before the pod table: the current file without Batch.pods and
// Config.capabilities / capabilities_only.
const BEFORE_POD_TABLE = readFileSync(new URL("./kernel_gossip.proto", import.meta.url), "utf8")
  .replace(/^\s*repeated PodRef pods = 4;$/m, "")
  .replace(/^\s*repeated string capabilities = 13;$/m, "")
  .replace(/^\s*bool capabilities_only = 14;$/m, "");
const v1 = protobuf.parse(BEFORE_POD_TABLE, { keepCase: false }).root.lookupType("kernelgossip.v1.Envelope");

describe("current agent → aggregator of before the pod table", () => {
  it("the schema really is the older one", () => {
    expect(BEFORE_POD_TABLE).not.toMatch(/pods = 4|capabilities = 13|capabilities_only/);
  });

  it("gets full pod refs in every event: no capability announced, no Batch.pods", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
    await new Promise((r) => wss.once("listening", r));
    const port = (wss.address() as { port: number }).port;
    const frames: Record<string, unknown>[] = [];
    const raw: Uint8Array[] = [];
    wss.on("connection", (ws: WebSocket) => {
      ws.on("message", (data: Buffer) => {
        raw.push(data);
        const frame = v1.toObject(v1.decode(data), { defaults: false }) as Record<string, unknown>;
        frames.push(frame);
        if (frame.hello) ws.send(encodeWith(v1, { config: { version: "4", cooldownSeconds: 30 } }));
        const batch = frame.batch as { seq?: number } | undefined;
        if (batch) ws.send(encodeWith(v1, { ack: { seq: batch.seq } }));
      });
    });
    const configs: unknown[] = [];
    const { link, outbox } = testLink({
      url: `ws://127.0.0.1:${port}/stream`,
      clock: new ManualClock(),
      onConfig: (f) => configs.push(f),
    });
    try {
      link.start();
      await expect
        .poll(() => configs.length === 1, { message: "the old aggregator's config applied" })
        .toBe(true);
      const pod = failureEvent(1, "node-a").pod;
      for (let i = 1; i <= 6; i++) outbox.push({ ...failureEvent(i, "node-a"), pod });
      await expect.poll(() => link.isIdle() && outbox.size === 0, { message: "batches acked" }).toBe(true);
      const hello = frames[0]?.hello as { capabilities?: string[] };
      expect(hello.capabilities).toContain(CAPABILITY_BATCH_POD_TABLE);
      const events = frames.flatMap(
        (f) => ((f.batch as { events?: unknown[] } | undefined)?.events ?? []) as { pod?: unknown }[],
      );
      expect(events).toHaveLength(6);
      for (const e of events) expect(e.pod).toEqual(pod);
      for (const bytes of raw.slice(1)) expect(decodeEnvelope(bytes).batch?.pods).toEqual([]);
    } finally {
      await link.stop(0);
      await new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(r);
      });
    }
  });
});
