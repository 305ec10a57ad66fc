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
import { selfSignedCert } from "../../test/kube-api/tls.ts";
import { testLink } from "./testing/harness.ts";
import { failureEvent } from "./testing/memory-outbox.ts";

const dir = mkdtempSync(join(tmpdir(), "kg-tls-"));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  rmSync(dir, { recursive: true, force: true });
});

it("streams over wss:// when the agent trusts the aggregator's CA, and refuses an unknown certificate", async () => {
  const cert = selfSignedCert({ ips: ["127.0.0.1"], dns: ["localhost"] });
  const written: string[] = [];
  const server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    tls: { cert: cert.cert, key: cert.key },
    auth: createStaticAuthenticator(["tok=node-a"], silentLogger()),
    handler: {
      handleBatch: async (_c, events) => {
        written.push(...events.map((e) => e.id ?? ""));
        return { dropped: 0 };
      },
    },
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
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, cert.cert);

  const make = (ca: string | undefined) => {
    const { link, outbox, registry } = testLink({
      url: `wss://127.0.0.1:${server.port}/stream`,
      clock: new ManualClock(),
      agent: { aggregatorCaFile: ca },
      settings: { heartbeatIntervalMs: 60_000, maxUnackedBatches: 4, maxBatchEvents: 10 },
      backoff: new Backoff({ initialMs: 100, maxMs: 100 }),
    });
    link.start();
    cleanup.push(() => link.stop(0));
    return { link, outbox, registry };
  };

  const trusted = make(caFile);
  await expect.poll(() => trusted.link.connected(), { message: "TLS connection with the CA" }).toBe(true);
  trusted.outbox.push(failureEvent(1, "node-a"));
  await expect
    .poll(() => written.length === 1 && trusted.link.isIdle(), { message: "event delivered over TLS" })
    .toBe(true);

  const untrusted = make(undefined);
  const reconnects = async () =>
    (
      (await untrusted.registry.getSingleMetric("kernel_gossip_agent_link_reconnects_total")?.get())
        ?.values ?? []
    ).find((v) => v.labels.cause === "connect_failed")?.value ?? 0;
  await expect.poll(reconnects, { message: "the untrusted certificate refused" }).toBeGreaterThanOrEqual(1);
  expect(untrusted.link.connected()).toBe(false);
});
