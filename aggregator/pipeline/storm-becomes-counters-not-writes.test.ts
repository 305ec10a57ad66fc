// Storm: 50,000 events over 500 pods of 5 Deployments become exactly 5 × 3 KernelWhispers
// with exact counts, and the write requests stay within the configured global rate.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { WireEvent } from "../../shared/proto.ts";
import {
  CTX,
  crashLoop,
  getJson,
  oomKilled,
  startTestCluster,
  type TestCluster,
  type TestPod,
  testPipeline,
  throttle,
} from "./testing.ts";

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "storm");
}, 60_000);
afterAll(async () => cluster?.close());

const DEPLOYMENTS = 5;
const PODS_PER_DEPLOYMENT = 100;
const CRASHES_PER_POD = 40;
const OOMS_PER_POD = 40;
const EPISODES_PER_POD = 5; // each: open, 2 updates, resolved = 20 throttle events

it("50,000 events over 500 pods of 5 Deployments make 15 whispers with exact counts, within the write rate", async () => {
  const WRITE_QPS = 10;
  const WRITE_BURST = 10;
  const pipeline = testPipeline(cluster.kubeConfig, {
    settings: { writeQps: WRITE_QPS, writeBurst: WRITE_BURST, objectMinInterval: 1_000, podEvents: false },
  });
  pipeline.start();
  const now = Date.now();
  const events: WireEvent[] = [];
  for (let d = 0; d < DEPLOYMENTS; d++) {
    for (let p = 0; p < PODS_PER_DEPLOYMENT; p++) {
      const pod: TestPod = {
        uid: `storm-${d}-${p}`,
        namespace: "storm",
        name: `api-${d}-7c9d8-${p}`,
        node: `node-${p % 5}`,
        labels: { "pod-template-hash": "7c9d8" },
        // The ReplicaSets do not exist: enrichment falls back to the name heuristic, counted.
        owners: [
          {
            apiVersion: "apps/v1",
            kind: "ReplicaSet",
            name: `api-${d}-7c9d8`,
            uid: `rs-${d}`,
            controller: true,
          },
        ],
      };
      for (let r = 1; r <= CRASHES_PER_POD; r++) events.push(crashLoop(pod, "server", r, now + r));
      for (let r = 1; r <= OOMS_PER_POD; r++)
        events.push(oomKilled(pod, "server", r, 512 * 1024 * 1024, now + r));
      for (let e = 0; e < EPISODES_PER_POD; e++) {
        const t = now + e * 100;
        events.push(throttle(pod, "server", e, "open", 0.6, t));
        events.push(throttle(pod, "server", e, "update", 0.9, t + 10));
        events.push({ ...throttle(pod, "server", e, "update", 0.7, t + 20), id: `storm-${d}-${p}/u2/${e}` });
        events.push(throttle(pod, "server", e, "resolved", 0.1, t + 30));
      }
    }
  }
  expect(events.length).toBe(50_000);

  cluster.api.counters.reset();
  const started = performance.now();
  const batches: WireEvent[][] = [];
  for (let i = 0; i < events.length; i += 1000) batches.push(events.slice(i, i + 1000));
  const results = await Promise.all(
    batches.map((b, i) =>
      pipeline.handleBatch({ ...CTX, node: `node-${i % 5}`, connectionId: `c${i % 5}` }, b),
    ),
  );
  const elapsedSeconds = (performance.now() - started) / 1000;
  expect(results.reduce((n, r) => n + r.dropped, 0)).toBe(0);
  await pipeline.writer.idle(); // throttle samples are acked once folded, written after (ADR 0011)

  const whispers = await getJson(cluster, "kw", "storm");
  expect(whispers.length).toBe(DEPLOYMENTS * 3);
  for (let d = 0; d < DEPLOYMENTS; d++) {
    const of = (signal: string) =>
      whispers.find((w) => w.spec.workload.name === `api-${d}` && w.spec.signal === signal);
    expect(of("CrashLoopBackOff")?.status.count).toBe(PODS_PER_DEPLOYMENT * CRASHES_PER_POD);
    expect(of("OOMKilled")?.status.count).toBe(PODS_PER_DEPLOYMENT * OOMS_PER_POD);
    const thr = of("CPUThrottling");
    expect(thr?.status.count).toBe(PODS_PER_DEPLOYMENT * EPISODES_PER_POD);
    expect(thr?.spec.workload.kind).toBe("Deployment");
    expect(thr?.status.affectedPods).toHaveLength(10);
    expect(thr?.status.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: "Resolved", status: "True" })]),
    );
  }

  const writes =
    cluster.api.counters.get("patch", "kernelwhispers") +
    cluster.api.counters.get("patch", "kernelwhispers/status");
  // every object needs its spec and at least one status write
  expect(writes).toBeGreaterThanOrEqual(DEPLOYMENTS * 3 * 2);
  // never more than the token bucket allows over the time it took
  expect(writes).toBeLessThanOrEqual(WRITE_BURST + Math.ceil(WRITE_QPS * elapsedSeconds) + 1);
  console.log(
    `storm: 50000 events → ${whispers.length} whispers, ${writes} write requests in ${elapsedSeconds.toFixed(2)} s`,
  );
  await pipeline.stop();
}, 120_000);
