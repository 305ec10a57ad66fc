// The metrics of the agent link, the stream server and the config watch, as scraped after
// real traffic, pass `promtool check metrics` (naming, units, help, types).
import { spawnSync } from "node:child_process";
import { afterEach, expect, it } from "vitest";
import { testLink } from "../../agent/link/testing/harness.ts";
import { failureEvent } from "../../agent/link/testing/memory-outbox.ts";
import { createConfigApplier } from "../../agent/remote-config/index.ts";
import { ManualClock, systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { createConfigPushMetrics } from "../config-push/metrics.ts";
import { createStaticAuthenticator, createStreamMetrics, startStreamServer } from "./index.ts";

const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function promtool(text: string): string {
  const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  return `${check.status} ${check.stdout}${check.stderr}`.trim();
}

it.runIf(hasPromtool)("link, stream and config metrics pass promtool check metrics", async () => {
  const aggRegistry = createRegistry({ defaultMetrics: false });
  const configMetrics = createConfigPushMetrics(aggRegistry);
  configMetrics.reloads.inc({ outcome: "applied" });
  configMetrics.watchRestarts.inc({ cause: "closed" });
  const server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["tok=node-a"], silentLogger()),
    handler: { handleBatch: async () => ({ dropped: 0 }) },
    configSource: { current: () => ({ version: "3", cooldownSeconds: 60 }), onChange: () => {} },
    clock: systemClock,
    log: silentLogger(),
    metrics: createStreamMetrics(aggRegistry),
    limits: {
      maxPayloadBytes: 1 << 20,
      maxBatchEvents: 100,
      maxEventsPerSecond: 1000,
      maxConnections: 10,
      heartbeatIntervalMs: 60_000,
    },
  });
  cleanup.push(() => server.close());
  let applier: ReturnType<typeof createConfigApplier> | undefined;
  const { link, outbox, registry } = testLink({
    url: `ws://127.0.0.1:${server.port}/stream`,
    clock: new ManualClock(),
    onConfig: (frame) => applier?.onConfig(frame),
  });
  applier = createConfigApplier({
    apply: () => {},
    metrics: {
      configInfo: registry.getSingleMetric("kernel_gossip_agent_config_info") as never,
      configApplied: registry.getSingleMetric("kernel_gossip_agent_config_applied_total") as never,
    },
    log: silentLogger(),
  });
  link.start();
  cleanup.push(() => link.stop(0));
  for (let i = 0; i < 25; i++) outbox.push(failureEvent(i, "node-a"));
  outbox.push(failureEvent(99, "node-b")); // refused: another node
  await expect
    .poll(() => !link.connected() && outbox.size === 0, { message: "delivered, then refused" })
    .toBe(true);

  const agentText = await registry.metrics();
  expect(agentText).toMatch(/kernel_gossip_agent_events_delivered_total 2\d/);
  expect(agentText).toContain('kernel_gossip_agent_config_info{version="3"} 1');
  expect(agentText).toContain('kernel_gossip_agent_rejects_total{code="KG_NODE_MISMATCH"} 1');
  expect(promtool(agentText)).toBe("0");

  const aggText = await aggRegistry.metrics();
  expect(aggText).toContain('kernel_gossip_aggregator_rejects_total{code="KG_NODE_MISMATCH"} 1');
  expect(aggText).toContain("kernel_gossip_aggregator_config_pushes_total 1");
  expect(aggText).toMatch(/kernel_gossip_aggregator_batch_duration_seconds_count \d/);
  expect(promtool(aggText)).toBe("0");
});
