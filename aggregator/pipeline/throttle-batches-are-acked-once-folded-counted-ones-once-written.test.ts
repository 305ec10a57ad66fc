// What an ack promises depends on the event kind (ADR 0011): a batch of throttle samples
// (state) is acknowledged once folded into its whisper's pending write, even while that
// write waits for the per-object interval; a batch with a crash loop (a counted occurrence)
// only after the write that carries its count; both end up written.
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  CTX,
  crashLoop,
  getJson,
  startTestCluster,
  type TestCluster,
  type TestPod,
  testPipeline,
  throttle,
} from "./testing.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "ack");
}, 60_000);
afterAll(async () => cluster?.close());

const pod: TestPod = { uid: "ack-pod-1", namespace: "ack", name: "web-1", labels: { "workload-id": "web" } };

it("a throttle batch is acked before its whisper's next write; a crash-loop batch waits for it", async () => {
  const pipeline = testPipeline(cluster.kubeConfig, {
    // Long enough that no second write of an object can happen while the test runs.
    settings: { objectMinInterval: 600_000, podEvents: false },
    stopDeadlineMs: 10_000,
  });
  pipeline.start();
  const ctx = (seq: number) => ({ ...CTX, instance: "i-1", seq });
  // First writes are due at once: both objects exist afterwards.
  await pipeline.handleBatch(ctx(1), [throttle(pod, "app", 1, "open", 0.6)]);
  await pipeline.handleBatch(ctx(2), [crashLoop(pod, "app", 1)]);

  // Second samples: both objects' next write is 10 minutes away.
  let counted = false;
  const crash = pipeline.handleBatch(ctx(3), [crashLoop(pod, "app", 2)]).then((r) => {
    counted = true;
    return r;
  });
  const state = await pipeline.handleBatch(ctx(4), [throttle(pod, "app", 2, "update", 0.9)]);
  expect(state.dropped).toBe(0);
  expect(counted).toBe(false);
  expect(pipeline.writer.pending).toBe(2);

  // The drain flushes both (ignoring the interval): the crash-loop batch is acked with it.
  await pipeline.stop();
  expect(await crash).toEqual({ dropped: 0 });
  const whispers = await getJson(cluster, "kernelwhispers", "ack");
  const bySignal = Object.fromEntries(whispers.map((w) => [w.spec.signal, w.status]));
  expect(bySignal.CrashLoopBackOff.count).toBe(2);
  expect(bySignal.CPUThrottling.count).toBe(1); // episodes opened: the update counts none
  expect(bySignal.CPUThrottling.evidence.throttling.ratio).toBeCloseTo(0.9);
});
