// The metrics of the pod watch and the outgoing queue, as scraped, pass `promtool check
// metrics` (naming, units, help, types) with real values in them.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { createQueue } from "../delivery.ts";
import { createPodsMetrics } from "../pods/metrics.ts";
import { testAgentOptions } from "../testing.ts";
import { createQueueMetrics } from "./metrics.ts";

const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;

describe("agent pod and queue metrics", () => {
  it.runIf(hasPromtool)("pass promtool check metrics", async () => {
    const clock = new ManualClock();
    const registry = createRegistry({ defaultMetrics: false });
    const queue = createQueueMetrics(registry);
    const pods = createPodsMetrics(registry);
    pods.observeWatch({ lastEventAgeSeconds: () => 2.5, podCount: () => 17 });
    pods.watchRestarts.inc({ cause: "stale" });
    pods.births.inc({ outcome: "ready" });
    const { dedup } = createQueue(
      testAgentOptions({ queueMaxEvents: 1, maxBatchEvents: 10, dedupCooldown: 60_000, dedupMaxKeys: 1 }),
      { clock, log: silentLogger(), metrics: queue, isLineIdle: () => false },
    );
    const pod = { uid: "u", namespace: "shop", name: "cart" };
    dedup.emit({ id: "a", pod, container: "app", count: 1, failure: { reason: "OOMKilled" } });
    dedup.emit({ id: "b", pod, container: "app", count: 1, failure: { reason: "OOMKilled" } });
    dedup.emit({ id: "c", pod, container: "web", count: 1, failure: { reason: "OOMKilled" } });
    const text = await registry.metrics();
    expect(text).toContain("kernel_gossip_agent_pods_watched 17");
    expect(text).toContain("kernel_gossip_agent_watch_last_event_age_seconds 2.5");
    expect(text).toContain("kernel_gossip_agent_queue_events 1");
    expect(text).toMatch(/kernel_gossip_agent_events_dropped_total\{type="failure",cause="queue_full"\} 2/);
    expect(text).toMatch(/kernel_gossip_agent_dedup_evictions_total 1/);
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(check.stdout + check.stderr).toBe("");
    expect(check.status).toBe(0);
  });
});

describe("the dropped-events counter", () => {
  it("is shared with the link whichever registers first", async () => {
    const { createLinkMetrics } = await import("../link/metrics.ts");
    const registry = createRegistry({ defaultMetrics: false });
    const link = createLinkMetrics(registry);
    const queue = createQueueMetrics(registry);
    expect(queue.dropped).toBe(link.eventsDropped);
  });
});
