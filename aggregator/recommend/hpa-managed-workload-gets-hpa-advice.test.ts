// Against the local API server: a throttled workload targeted by an autoscaling/v2
// HorizontalPodAutoscaler gets the HPA recommendation (one HPA list per namespace).
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  CTX,
  getJson,
  startTestCluster,
  type TestCluster,
  testPipeline,
  throttle,
} from "../pipeline/testing.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.apply(`
apiVersion: v1
kind: Namespace
metadata: { name: scaled }
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: queue-worker, namespace: scaled }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: StatefulSet, name: worker }
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: { name: cpu, target: { type: Utilization, averageUtilization: 70 } }
`);
}, 60_000);
afterAll(async () => cluster?.close());

it("a throttled StatefulSet scaled by an HPA gets HPA advice with numbers", async () => {
  const pipeline = testPipeline(cluster.kubeConfig, { settings: { podEvents: false } });
  pipeline.start();
  const lists = cluster.api.counters.get("list", "horizontalpodautoscalers");
  const owners = [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "worker", uid: "x", controller: true }];
  const other = [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "cache", uid: "y", controller: true }];
  const events = [0, 1, 2].flatMap((i) => [
    throttle({ uid: `w${i}`, namespace: "scaled", name: `worker-${i}`, owners }, "main", i, "open", 0.7),
    throttle(
      { uid: `c${i}`, namespace: "scaled", name: `cache-${i}`, owners: other },
      "main",
      i,
      "open",
      0.7,
    ),
  ]);
  expect((await pipeline.handleBatch(CTX, events)).dropped).toBe(0);
  await pipeline.writer.idle(); // throttle samples are acked once folded, written after (ADR 0011)
  const whispers = await getJson(cluster, "kw", "scaled");
  const worker = whispers.find((w) => w.spec.workload.name === "worker");
  const cache = whispers.find((w) => w.spec.workload.name === "cache");
  // 3 events × 3 demand samples each = 9 windows ≥ 6: enough data
  expect(worker?.status.recommendation).toMatchObject({
    action: "HPAManaged",
    cpuLimit: "1200m",
    samples: 9,
  });
  expect(worker?.status.recommendation.summary).toContain("HorizontalPodAutoscaler (queue-worker)");
  expect(cache?.status.recommendation).toMatchObject({ action: "SetCPULimit", cpuLimit: "1200m" });
  expect(cluster.api.counters.get("list", "horizontalpodautoscalers") - lists).toBe(1);
  await pipeline.stop();
});
