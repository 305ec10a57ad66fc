// The wire format is plain protobuf: the reference compiler decodes a frame the AgentLink
// really put on a real socket, using only proto/kernel_gossip.proto.
import { execFileSync, spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { createLink } from "../agent/delivery.ts";
import { createLinkMetrics } from "../agent/link/index.ts";
import { failureEvent, MemoryOutbox } from "../agent/link/testing/memory-outbox.ts";
import { testAgentOptions } from "../agent/testing.ts";
import { Backoff } from "../shared/backoff.ts";
import { systemClock } from "../shared/clock.ts";
import { silentLogger } from "../shared/log.ts";
import { createRegistry } from "../shared/metrics.ts";

const protoc = spawnSync("protoc", ["--version"], { encoding: "utf8" });
const haveProtoc = protoc.status === 0;
if (!haveProtoc) {
  console.warn(
    "SKIPPED: protoc not found; install it with `apt-get install -y protobuf-compiler` to check the wire format against the reference compiler",
  );
}

const decode = (frame: Buffer): string =>
  execFileSync(
    "protoc",
    ["--decode", "kernelgossip.v1.Envelope", "-I", "proto", "proto/kernel_gossip.proto"],
    {
      input: frame,
      encoding: "utf8",
    },
  );

describe.skipIf(!haveProtoc)(`protoc (${protoc.stdout?.trim()}) reads the agent's frames`, () => {
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  it("decodes the Hello and the Batch a real AgentLink sent to a real WebSocket server", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    cleanup.push(() => new Promise((r) => wss.close(r)));
    const captured: Buffer[] = [];
    const gotTwo = new Promise<void>((resolve) => {
      wss.on("connection", (ws, req) => {
        expect(req.headers.authorization).toBe("Bearer s3cret");
        ws.on("message", (data: Buffer) => {
          captured.push(data);
          if (captured.length === 2) resolve();
        });
      });
    });
    await new Promise((r) => wss.once("listening", r));
    const { port } = wss.address() as { port: number };
    const outbox = new MemoryOutbox();
    // The agent's own link and Hello (agent/delivery.ts createLink).
    const o = testAgentOptions({
      aggregatorUrl: `ws://127.0.0.1:${port}/stream`,
      agentToken: "s3cret",
      clusterName: "prod-eu",
      heartbeatInterval: 60_000,
      maxUnackedBatches: 4,
      maxBatchEvents: 100,
    });
    const link = createLink(o, {
      outbox,
      clock: systemClock,
      log: silentLogger(),
      metrics: createLinkMetrics(createRegistry({ defaultMetrics: false })),
      cgroupLayout: "v2/systemd",
      configVersion: () => "4711",
      onConfig: () => {},
      backoff: new Backoff({ initialMs: 20, maxMs: 50 }),
    });
    link.start();
    cleanup.push(() => link.stop(100));
    outbox.push(failureEvent(1, "node-a"));
    await gotTwo;

    const helloText = decode(captured[0] as Buffer);
    expect(helloText).toContain('node: "node-a"');
    expect(helloText).toContain('cluster: "prod-eu"');
    expect(helloText).toContain("protocol_version: 1");
    expect(helloText).toContain('capabilities: "cpu-throttle"');
    expect(helloText).toContain('config_version: "4711"');

    const batchText = decode(captured[1] as Buffer);
    expect(batchText).toMatch(/^batch \{\n {2}seq: 1\n/);
    expect(batchText).toContain('id: "uid-1/app/1/CrashLoopBackOff"');
    expect(batchText).toContain('namespace: "shop"');
    expect(batchText).toMatch(/labels \{\n\s+key: "app"\n\s+value: "cart"/);
    expect(batchText).toContain('kind: "ReplicaSet"');
    expect(batchText).toContain("observed_at_ms: 1767225600001");
    expect(batchText).toMatch(/failure \{\n\s+reason: "CrashLoopBackOff"\n\s+exit_code: 137/);
    expect(batchText).toMatch(/sent_at_ms: \d{13}/);
  });
});
