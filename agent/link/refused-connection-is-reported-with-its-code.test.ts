import { afterEach, expect, it } from "vitest";
import { createStaticAuthenticator } from "../../aggregator/stream/auth.ts";
import { createStreamMetrics, startStreamServer } from "../../aggregator/stream/index.ts";
import { ManualClock, systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { testLink } from "./testing/harness.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

it("an agent with a wrong token learns the code from the HTTP refusal, counts it and retries with backoff", async () => {
  const server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["right=node-a"], silentLogger()),
    handler: { handleBatch: async () => ({ dropped: 0 }) },
    clock: systemClock,
    log: silentLogger(),
    metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
    limits: {
      maxPayloadBytes: 1 << 20,
      maxBatchEvents: 100,
      maxEventsPerSecond: 100,
      maxConnections: 10,
      heartbeatIntervalMs: 60_000,
    },
  });
  cleanup.push(() => server.close());
  const clock = new ManualClock();
  const { link, metric } = testLink({ url: `ws://127.0.0.1:${server.port}/stream`, clock, token: "wrong" });
  link.start();
  cleanup.push(() => link.stop(0));
  const refused = () => metric("kernel_gossip_agent_rejects_total", { code: "KG_AUTH_INVALID" });
  const retries = () => metric("kernel_gossip_agent_link_reconnects_total", { cause: "refused" });
  for (let attempt = 1; attempt <= 3; attempt++) {
    // refused (code read from the JSON body) and a reconnect scheduled
    await expect
      .poll(async () => ({ refused: await refused(), retries: await retries() }), {
        message: `attempt ${attempt} refused`,
      })
      .toEqual({ refused: attempt, retries: attempt });
    clock.advance(1_000); // backoff (max 1 s in the harness)
  }
  expect(await retries()).toBeGreaterThanOrEqual(3);
  expect(link.connected()).toBe(false);
});
