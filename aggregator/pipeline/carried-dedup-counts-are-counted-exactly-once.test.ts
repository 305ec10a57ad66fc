// The agent's dedup sends one event carrying the count of every occurrence it held back
// (agent/queue/dedup.ts). The whisper adds that count — not 1, not the kernel event's own
// `kills` — and a resend of the batch that carried it adds nothing (delivery ledger).
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  CTX,
  crashLoop,
  getJson,
  kernelOom,
  oomKilled,
  startTestCluster,
  type TestCluster,
  testPipeline,
} from "./testing.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "carried");
}, 60_000);
afterAll(async () => cluster?.close());

const pod = { uid: "carried-1", namespace: "carried", name: "db-0", labels: { "workload-id": "db" } };
const ctx = (seq: number) => ({ ...CTX, instance: "9a8b7c", seq });
const counts = async () =>
  Object.fromEntries(
    (await getJson(cluster, "kw", "carried")).map((w) => [
      w.metadata.name,
      [w.status.count, w.status.affectedPods?.[0]?.count],
    ]),
  );

it("a carried count is added whole, once, whatever replica or resend sees it", async () => {
  const pipeline = testPipeline(cluster.kubeConfig);
  pipeline.start();
  // First occurrences leave at once (count 1); the held-back ones leave carried.
  expect(
    await pipeline.handleBatch(ctx(1), [kernelOom(pod, "postgres", 1), crashLoop(pod, "postgres", 1)]),
  ).toEqual({
    dropped: 0,
  });
  const carriedOom = { ...kernelOom(pod, "postgres", 6), count: 5 }; // its own kills: 1; held: 4 more
  const carriedOomKilled = { ...oomKilled(pod, "postgres", 7, 256 * 1024 * 1024), count: 2 }; // the kubelet's, same key
  const carriedCrash = { ...crashLoop(pod, "postgres", 9), count: 8 };
  const batch = [carriedOom, carriedOomKilled, carriedCrash];
  expect(await pipeline.handleBatch(ctx(2), batch)).toEqual({ dropped: 0 });
  const after = await counts();
  expect(after).toEqual({
    "label-db.postgres.oom-killed": [8, 8],
    "label-db.postgres.crash-loop-back-off": [9, 9],
  });
  // The ack was lost: the agent resends the same batch, to this replica and to a fresh one.
  expect(await pipeline.handleBatch(ctx(2), batch)).toEqual({ dropped: 3 });
  await pipeline.stop();
  const fresh = testPipeline(cluster.kubeConfig);
  fresh.start();
  expect(await fresh.handleBatch(ctx(2), batch)).toEqual({ dropped: 3 });
  await fresh.stop();
  expect(await counts()).toEqual(after);
});
