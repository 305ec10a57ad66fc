// The pipeline's metrics, as scraped after real work against the local API server, carry
// the contract's names and pass `promtool check metrics`.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createRegistry } from "../../shared/metrics.ts";
import { createPipelineMetrics } from "./metrics.ts";
import { CTX, crashLoop, startTestCluster, type TestCluster, testPipeline, throttle } from "./testing.ts";

const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "m");
}, 60_000);
afterAll(async () => cluster?.close());

it.runIf(hasPromtool)("pipeline metrics pass promtool check metrics with real values", async () => {
  const registry = createRegistry({ defaultMetrics: false });
  const metrics = createPipelineMetrics(registry);
  const pipeline = testPipeline(cluster.kubeConfig, { metrics, settings: { podEvents: true } });
  pipeline.start();
  const pod = {
    uid: "m1",
    namespace: "m",
    name: "m1",
    owners: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "gone-1", uid: "x", controller: true }],
  };
  const batch = [crashLoop(pod, "app", 1, Date.now() - 1500), throttle(pod, "app", 1, "open", 0.9)];
  await pipeline.handleBatch(CTX, batch);
  await pipeline.handleBatch(CTX, batch); // redelivery
  // A throttle sample is acked once folded (ADR 0011): its whisper's write, and the pod
  // Event that follows it, may still be on their way when handleBatch returns.
  await pipeline.writer.idle();
  await pipeline.podEvents.drain();
  metrics.leader.set(1);
  const text = await registry.metrics();
  for (const line of [
    'kernel_gossip_aggregator_cr_writes_total{kind="KernelWhisper",outcome="success"} 4',
    "kernel_gossip_aggregator_redeliveries_dropped_total 2",
    'kernel_gossip_aggregator_whispers{signal="CrashLoopBackOff",severity="critical"} 1',
    'kernel_gossip_aggregator_whispers{signal="CPUThrottling",severity="critical"} 1',
    "kernel_gossip_aggregator_pending_objects 0",
    'kernel_gossip_aggregator_enrich_fallbacks_total{reason="owner_not_found"} 2',
    'kernel_gossip_aggregator_pod_events_total{outcome="written"} 2',
    "kernel_gossip_aggregator_leader 1",
  ]) {
    expect(text).toContain(line);
  }
  expect(text).toMatch(/kernel_gossip_aggregator_end_to_end_latency_seconds_count\{type="failure"\} 1/);
  expect(text).toMatch(/kernel_gossip_aggregator_cr_write_duration_seconds_count\{kind="KernelWhisper"\} 4/);
  const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  expect(check.stdout + check.stderr).toBe("");
  expect(check.status).toBe(0);
  await pipeline.stop();
});
