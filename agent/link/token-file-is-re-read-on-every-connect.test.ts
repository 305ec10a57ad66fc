import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { createStaticAuthenticator } from "../../aggregator/stream/auth.ts";
import { createStreamMetrics, startStreamServer } from "../../aggregator/stream/index.ts";
import { Backoff } from "../../shared/backoff.ts";
import { ManualClock, systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { testLink } from "./testing/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "kg-token-"));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  rmSync(dir, { recursive: true, force: true });
});

it("a missing token file is retried, and a rotated token is used on the next connect", async () => {
  const server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["first=node-a", "rotated=node-a"], silentLogger()),
    handler: { handleBatch: async () => ({ dropped: 0 }) },
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
  cleanup.push(() => server.close());
  const tokenFile = join(dir, "token");
  const clock = new ManualClock();
  // The agent's own token source: --token-file, no --agent-token.
  const { link, registry } = testLink({
    url: `ws://127.0.0.1:${server.port}/stream`,
    clock,
    agent: { agentToken: undefined, tokenFile },
    settings: { heartbeatIntervalMs: 60_000, maxUnackedBatches: 4, maxBatchEvents: 10 },
    backoff: new Backoff({ initialMs: 100, maxMs: 100 }),
  });
  link.start();
  cleanup.push(() => link.stop(0));
  const retries = async (cause: string) =>
    ((await registry.getSingleMetric("kernel_gossip_agent_link_reconnects_total")?.get())?.values ?? [])
      .filter((v) => v.labels.cause === cause)
      .reduce((n, v) => n + v.value, 0);
  await expect
    .poll(async () => (await retries("credentials")) === 1, { message: "missing token noticed" })
    .toBe(true);

  writeFileSync(tokenFile, "first\n");
  clock.advance(100);
  await expect
    .poll(() => server.connections()[0]?.identity === "static-token#0", {
      message: "connected with the first token",
    })
    .toBe(true);

  writeFileSync(tokenFile, "rotated\n");
  await server.close();
  const again = await startStreamServer({
    port: server.port,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["rotated=node-a"], silentLogger()),
    handler: { handleBatch: async () => ({ dropped: 0 }) },
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
  cleanup.push(() => again.close());
  await expect
    .poll(() => !link.connected(), { message: "link dropped by the stopping aggregator" })
    .toBe(true);
  clock.advance(100);
  await expect
    .poll(() => again.connections()[0]?.identity === "static-token#0" && link.connected(), {
      message: "rotated token accepted",
    })
    .toBe(true);
  expect(again.connections().map((c) => c.identity)).toEqual(["static-token#0"]); // "rotated"
  expect(await retries("credentials")).toBe(1);
  expect(await retries("refused")).toBe(0);
});
