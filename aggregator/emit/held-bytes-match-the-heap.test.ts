// --max-pending-bytes bounds an estimate (held-bytes.ts), not the heap itself: the estimate
// is only worth its name if it tracks what waiting objects really keep alive. Measured here
// with the real garbage collector through the real pipeline: objects wait for write tokens
// (0.1 writes/s against the local API server) while the heap they hold — documents, ledgers,
// batches, their ids, the pipeline's in-flight entries — is compared with the estimate, for
// a real agent's crash loop and for a hostile one (many events per batch, ids and messages
// at the edge's limits).
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { WireEvent } from "../../shared/proto.ts";
import {
  CTX,
  crashLoop,
  startTestCluster,
  type TestCluster,
  type TestPod,
  testPipeline,
  throttle,
} from "../pipeline/testing.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "heap");
}, 60_000);
afterAll(async () => cluster?.close());

const pod: TestPod = {
  uid: "heap-uid-1",
  namespace: "heap",
  name: "web-1",
  labels: { "workload-id": "web" },
};
const N = 1500;

function heapUsed(): number {
  gc();
  gc();
  return getHeapStatistics().used_heap_size;
}

it("the writer's byte estimate is within a factor of 1.5 of the heap its waiting objects take", async () => {
  const pipeline = testPipeline(cluster.kubeConfig, {
    settings: { writeQps: 0.1, writeBurst: 1, objectMinInterval: 600_000 },
  });
  pipeline.start();
  let seq = 0;
  const send = (events: WireEvent[]) =>
    pipeline.handleBatch({ ...CTX, instance: "i-heap", seq: ++seq }, events);
  // Warm: caches filled, the one token spent.
  await send([crashLoop(pod, "warm", 1)]);

  // Each shape makes N batches waiting: on N objects, or 20 batches each on N / 20 objects.
  const shapes: Record<string, (i: number) => WireEvent[]> = {
    "a real crash loop (1 event)": (i) => [crashLoop(pod, `real-${i}`, 1)],
    "hostile (20 events, 512-char ids, 4 KiB message)": (i) =>
      Array.from({ length: 20 }, (_, k) => {
        const ev = crashLoop(pod, `hostile-${i}`, k + 1);
        ev.id = `${ev.id}/${String(k).padStart(4, "0")}`.padEnd(512, "x");
        if (ev.failure) ev.failure.message = "m".repeat(4096);
        return ev;
      }),
    "20 batches of 1 event on each object": (i) => [crashLoop(pod, `many-${i % (N / 20)}`, i + 1)],
  };
  const waiting: Promise<unknown>[] = [];
  const ratios: Record<string, number> = {};
  for (const [shape, events] of Object.entries(shapes)) {
    const heapBefore = heapUsed();
    const estimateBefore = pipeline.writer.heldBytes;
    const waitersBefore = pipeline.writer.waiters;
    for (let i = 0; i < N; i++) waiting.push(send(events(i)).catch(() => {}));
    await expect
      .poll(() => pipeline.writer.waiters, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(waitersBefore + N);
    const measured = (heapUsed() - heapBefore) / N;
    const estimated = (pipeline.writer.heldBytes - estimateBefore) / N;
    ratios[shape] = estimated / measured;
    console.log(
      `${shape}: heap ${Math.round(measured)} B per waiting batch, estimate ${Math.round(estimated)} B (×${(estimated / measured).toFixed(2)})`,
    );
  }
  for (const ratio of Object.values(ratios)) {
    expect(ratio).toBeGreaterThan(1 / 1.5);
    expect(ratio).toBeLessThan(1.5);
  }

  // Samples of named throttle episodes are acked once folded and fold untagged (ADR 0011): an
  // object waiting for its write holds one shared waiter for all of them, not one per batch.
  const objects = N / 20;
  for (let i = 0; i < objects; i++)
    await send([throttle(pod, `thr-${i}`, i + 1, "open", 0.6, Date.now(), 1_765_000_000_000)]);
  const waitersBefore = pipeline.writer.waiters;
  const heapBefore = heapUsed();
  for (let i = 0; i < N; i++)
    await send([throttle(pod, `thr-${i % objects}`, N + i, "update", 0.6, Date.now(), 1_765_000_000_000)]);
  expect(pipeline.writer.waiters - waitersBefore).toBeLessThanOrEqual(objects);
  console.log(
    `named throttle samples acked once folded: heap ${Math.round((heapUsed() - heapBefore) / N)} B per batch (its event id in the redelivery cache included), ${pipeline.writer.waiters - waitersBefore} more waiters for ${N} batches`,
  );
  await pipeline.stop();
  await Promise.all(waiting);
}, 120_000);
