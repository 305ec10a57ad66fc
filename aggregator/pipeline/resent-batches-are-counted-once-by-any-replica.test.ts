// Exact counts across crashes, restarts and replicas: a batch the agent resends (because the
// ack never reached it) is recognised by the whisper's own delivery ledger, whichever replica
// gets it — a fresh one after a crash, the other replica, or the same one whose write
// response was lost.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createRegistry } from "../../shared/metrics.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { kubeCrClient } from "../emit/kube.ts";
import { createPipelineMetrics, type PipelineMetrics } from "./metrics.ts";
import {
  CTX,
  crashLoop,
  getJson,
  startTestCluster,
  statusApplyHonorsResourceVersion,
  type TestCluster,
  type TestPod,
  testPipeline,
} from "./testing.ts";

let cluster: TestCluster;
let preconditions = false;
beforeAll(async () => {
  cluster = await startTestCluster();
  for (const ns of ["restart", "race", "lost"]) await cluster.kubectl("create", "namespace", ns);
  preconditions = await statusApplyHonorsResourceVersion(cluster, "restart");
}, 60_000);
afterAll(async () => cluster?.close());

const pod = (ns: string, workload: string, i: number): TestPod => ({
  uid: `${ns}-${workload}-${i}`,
  namespace: ns,
  name: `${workload}-${i}`,
  labels: { "workload-id": workload },
});
/** `n` crash-loop events over two workloads, distinct ids. */
const events = (ns: string, from: number, n: number): WireEvent[] =>
  Array.from({ length: n }, (_, k) => crashLoop(pod(ns, k % 2 ? "web" : "api", k % 5), "app", from + k));
const counts = async (ns: string): Promise<Record<string, number>> =>
  Object.fromEntries((await getJson(cluster, "kw", ns)).map((w) => [w.metadata.name, w.status.count]));
const redeliveries = async (m: PipelineMetrics): Promise<number> =>
  (await m.redeliveriesDropped.get()).values[0]?.value ?? 0;
const agentCtx = (seq: number) => ({ ...CTX, instance: "6f1c2d", seq });

it("a batch resent to a restarted replica after its write succeeded is not counted again", async () => {
  const first = testPipeline(cluster.kubeConfig);
  first.start();
  const batch1 = events("restart", 0, 10);
  expect(await first.handleBatch(agentCtx(1), batch1)).toEqual({ dropped: 0 });
  // Crash after the write, before the ack: the process and its memory are gone.
  await first.stop();
  expect(await counts("restart")).toEqual({
    "label-api.app.crash-loop-back-off": 5,
    "label-web.app.crash-loop-back-off": 5,
  });

  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const restarted = testPipeline(cluster.kubeConfig, { metrics });
  restarted.start();
  expect(await restarted.handleBatch(agentCtx(1), batch1)).toEqual({ dropped: 10 });
  expect(await redeliveries(metrics)).toBe(10);
  // New batches still count, and so does the same event id under a new agent process
  // (a restarted agent that detected it again would have the agent's own dedup to thank).
  expect(await restarted.handleBatch(agentCtx(2), events("restart", 10, 4))).toEqual({ dropped: 0 });
  expect(await counts("restart")).toEqual({
    "label-api.app.crash-loop-back-off": 7,
    "label-web.app.crash-loop-back-off": 7,
  });
  const [whisper] = await getJson(cluster, "kw", "restart");
  expect(whisper?.status.deliveries).toEqual([{ agent: "node-1/6f1c2d", seqs: "1-2" }]);
  await restarted.stop();
}, 30_000);

it("the same batch handled by two replicas at once is counted once", async () => {
  // Exactness across replicas needs resourceVersion preconditions on status applies (the
  // local API server honours them like kube-apiserver).
  expect(preconditions).toBe(true);
  const a = testPipeline(cluster.kubeConfig, { settings: { podName: "agg-a" } });
  const b = testPipeline(cluster.kubeConfig, { settings: { podName: "agg-b" } });
  a.start();
  b.start();
  const other = (seq: number) => ({ ...CTX, node: "node-2", instance: "9a8b7c", seq });
  for (let seq = 1; seq <= 6; seq++) {
    const batch = events("race", seq * 100, 10);
    // The agent reconnected to the other replica while the first was still writing; another
    // agent's batches meanwhile reach only one replica: its increments survive the re-reads.
    await Promise.all([
      a.handleBatch(agentCtx(seq), batch),
      b.handleBatch(agentCtx(seq), batch),
      a.handleBatch(other(seq), events("race", 10_000 + seq * 100, 4)),
    ]);
  }
  expect(await counts("race")).toEqual({
    "label-api.app.crash-loop-back-off": 30 + 12,
    "label-web.app.crash-loop-back-off": 30 + 12,
  });
  const [whisper] = await getJson(cluster, "kw", "race");
  expect(whisper?.status.deliveries).toEqual(
    expect.arrayContaining([
      { agent: "node-1/6f1c2d", seqs: "1-6" },
      { agent: "node-2/9a8b7c", seqs: "1-6" },
    ]),
  );
  await Promise.all([a.stop(), b.stop()]);
}, 30_000);

it("a status write whose response was lost is not counted twice on retry", async () => {
  expect(preconditions).toBe(true);
  const real = kubeCrClient(cluster.kubeConfig);
  let lose = 2;
  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const pipeline = testPipeline(cluster.kubeConfig, {
    metrics,
    client: {
      get: (...args) => real.get(...args),
      apply: (...args) => real.apply(...args),
      async applyStatus(plural, body) {
        const written = await real.applyStatus(plural, body);
        if (lose-- > 0) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        return written;
      },
    },
  });
  pipeline.start();
  // The retry's 409 re-read finds the batch already in the ledger (its own lost write):
  // nothing is written twice, and the ack says the events were redeliveries.
  expect(await pipeline.handleBatch(agentCtx(1), events("lost", 0, 10))).toEqual({ dropped: 10 });
  expect(await counts("lost")).toEqual({
    "label-api.app.crash-loop-back-off": 5,
    "label-web.app.crash-loop-back-off": 5,
  });
  expect(await redeliveries(metrics)).toBe(10);
  await pipeline.stop();
}, 30_000);

it("a replica that read a whisper as missing just before the other created it keeps the other's count", async () => {
  await cluster.kubectl("create", "namespace", "create-race");
  const real = kubeCrClient(cluster.kubeConfig);
  const first = testPipeline(cluster.kubeConfig, { settings: { podName: "agg-a" } });
  let staleReads = 1;
  const second = testPipeline(cluster.kubeConfig, {
    settings: { podName: "agg-b" },
    client: {
      // Its first read happened before the other replica created the object.
      get: async (...args) => (staleReads-- > 0 ? undefined : real.get(...args)),
      apply: (...args) => real.apply(...args),
      applyStatus: (...args) => real.applyStatus(...args),
    },
  });
  first.start();
  second.start();
  const api = (i: number) => crashLoop(pod("create-race", "api", i), "app", i);
  await first.handleBatch(agentCtx(1), [api(1), api(2), api(3), api(4), api(5)]);
  await second.handleBatch({ ...CTX, node: "node-2", instance: "9a8b7c", seq: 1 }, [api(6), api(7), api(8)]);
  expect(await counts("create-race")).toEqual({ "label-api.app.crash-loop-back-off": 8 });
  await Promise.all([first.stop(), second.stop()]);
}, 30_000);
