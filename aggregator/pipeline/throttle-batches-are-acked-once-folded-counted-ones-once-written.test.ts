// What an ack promises depends on the event kind (ADR 0011): a batch of throttle samples
// (state) is acknowledged once folded into its whisper's pending write, even while that
// write waits for the per-object interval; a batch with a crash loop (a counted occurrence)
// only after the write that carries its count; both end up written. An episode the agent
// names (CpuThrottle.episode_opened_at_ms) is counted once by its name, so its opening is
// acked on the fold too: a fold lost in a crash, or counted by two replicas, still counts once.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createRegistry } from "../../shared/metrics.ts";
import { kubeCrClient } from "../emit/kube.ts";
import { createPipelineMetrics } from "./metrics.ts";
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

/** Long enough that no second write of an object can happen while a test runs; the drain writes. */
const HELD_BACK = { settings: { objectMinInterval: 600_000, podEvents: false }, stopDeadlineMs: 10_000 };

const pod: TestPod = { uid: "ack-pod-1", namespace: "ack", name: "web-1", labels: { "workload-id": "web" } };

it("a throttle batch is acked before its whisper's next write; a crash-loop batch waits for it", async () => {
  const pipeline = testPipeline(cluster.kubeConfig, {
    ...HELD_BACK,
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

it("an episode's opening and its resolution wait for their write: a crash must not lose the episode count or leave it open", async () => {
  const pipeline = testPipeline(cluster.kubeConfig, {
    ...HELD_BACK,
  });
  pipeline.start();
  const other: TestPod = {
    uid: "ack-pod-2",
    namespace: "ack",
    name: "api-1",
    labels: { "workload-id": "api" },
  };
  const ctx = (seq: number) => ({ ...CTX, instance: "i-2", seq });
  await pipeline.handleBatch(ctx(1), [throttle(other, "app", 1, "open", 0.6)]);

  // The whisper's next write is 10 minutes away: the episode's resolution and a second
  // episode's opening are not acknowledged on the fold, only with the write that carries them.
  const settled: string[] = [];
  const resolve = pipeline
    .handleBatch(ctx(2), [throttle(other, "app", 2, "resolved", 0.1)])
    .then(() => settled.push("resolved"));
  const reopen = pipeline
    .handleBatch(ctx(3), [throttle(other, "app", 3, "open", 0.7)])
    .then(() => settled.push("open"));
  const update = await pipeline.handleBatch(ctx(4), [throttle(other, "app", 4, "update", 0.2)]);
  expect(update.dropped).toBe(0);
  // The update's ack means it was folded, after the opening and the resolution before it.
  expect(pipeline.writer.pending).toBe(1);
  expect(settled).toEqual([]);

  await pipeline.stop();
  await Promise.all([reopen, resolve]);
  expect(settled.sort()).toEqual(["open", "resolved"]);
  const whispers = await getJson(cluster, "kernelwhispers", "ack");
  const api = whispers.find(
    (w) => w.spec.workload?.name === "api" || w.metadata.name.startsWith("label-api"),
  );
  expect(api?.status.count).toBe(2);
});

it("an episode the agent names is counted once by its name: its opening is acked on the fold, and a fold lost in a crash is counted by the next sample", async () => {
  const real = kubeCrClient(cluster.kubeConfig);
  // A replica that dies between the fold and the write: its status writes never land.
  const crashed = testPipeline(cluster.kubeConfig, {
    settings: HELD_BACK.settings,
    stopDeadlineMs: 200,
    client: {
      get: (...args) => real.get(...args),
      apply: (...args) => real.apply(...args),
      applyStatus: () => new Promise(() => {}),
    },
  });
  crashed.start();
  const named: TestPod = {
    uid: "ack-pod-3",
    namespace: "ack",
    name: "db-1",
    labels: { "workload-id": "db" },
  };
  const opened = Date.now() - 60_000;
  const ctx = (seq: number) => ({ ...CTX, instance: "i-3", seq });
  // Acked although its write never happens: the episode's next sample will count it.
  expect(await crashed.handleBatch(ctx(1), [throttle(named, "app", 1, "open", 0.6, opened, opened)])).toEqual(
    {
      dropped: 0,
    },
  );
  expect(crashed.writer.pending).toBe(1);
  await crashed.stop();

  const restarted = testPipeline(cluster.kubeConfig, {
    ...HELD_BACK,
  });
  restarted.start();
  const update = (seq: number) => throttle(named, "app", seq, "update", 0.8, opened + seq * 1000, opened);
  await restarted.handleBatch(ctx(2), [update(2)]); // first write of the object here: due at once
  await restarted.handleBatch(ctx(3), [update(3)]);
  const second = opened + 30_000;
  await restarted.handleBatch(ctx(4), [throttle(named, "app", 4, "open", 0.7, second, second)]);
  // The resolution is the episode's last sample: it waits for its write (the drain below).
  const resolved = restarted.handleBatch(ctx(5), [
    throttle(named, "app", 5, "resolved", 0.1, second + 5_000, second),
  ]);
  await restarted.stop();
  expect(await resolved).toEqual({ dropped: 0 });

  const whisper = (await getJson(cluster, "kernelwhispers", "ack")).find((w) =>
    w.metadata.name.includes("db"),
  );
  // Two episodes: the first counted once by its update after the crash, the second by its opening.
  expect(whisper?.status.count).toBe(2);
  expect(whisper?.status.episodes.split(",")).toHaveLength(2);
  expect(whisper?.status.affectedPods[0].count).toBe(2);
}, 30_000);

it("two replicas folding different samples of one named episode count it once", async () => {
  const a = testPipeline(cluster.kubeConfig, {
    ...HELD_BACK,
    settings: { ...HELD_BACK.settings, podName: "agg-a" },
  });
  const b = testPipeline(cluster.kubeConfig, {
    ...HELD_BACK,
    settings: { ...HELD_BACK.settings, podName: "agg-b" },
  });
  a.start();
  b.start();
  const shared: TestPod = {
    uid: "ack-pod-4",
    namespace: "ack",
    name: "queue-1",
    labels: { "workload-id": "queue" },
  };
  const opened = Date.now() - 10_000;
  const ctx = (seq: number) => ({ ...CTX, instance: "i-4", seq });
  // The episode's opening was lost in a crash; the agent reconnected to the other replica
  // between two updates: each replica counts the episode in its pending write, and the second
  // write's 409 re-read finds it counted and takes its own count back.
  await Promise.all([
    a.handleBatch(ctx(1), [throttle(shared, "app", 1, "update", 0.6, opened + 500, opened)]),
    b.handleBatch(ctx(2), [throttle(shared, "app", 2, "update", 0.9, opened + 1_000, opened)]),
  ]);
  await Promise.all([a.stop(), b.stop()]);
  const whisper = (await getJson(cluster, "kernelwhispers", "ack")).find((w) =>
    w.metadata.name.includes("queue"),
  );
  expect(whisper?.status.count).toBe(1);
  expect(whisper?.status.affectedPods[0].count).toBe(1);
  // Samples of named episodes count by the episode's name: no delivery tag to keep.
  expect(whisper?.status.deliveries).toBeUndefined();
  expect(whisper?.status.episodes.split(",")).toHaveLength(1);
}, 30_000);

it("a resent batch folds its named samples again (they count by the episode, no id is kept for them) and drops its counted events as redeliveries", async () => {
  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const pipeline = testPipeline(cluster.kubeConfig, {
    metrics,
    ...HELD_BACK,
  });
  pipeline.start();
  const resent: TestPod = {
    uid: "ack-pod-5",
    namespace: "ack",
    name: "cache-1",
    labels: { "workload-id": "cache" },
  };
  const opened = Date.now() - 20_000;
  // An agent without an instance id: no delivery tag, only this replica's event ids stand
  // between a resend and a second count.
  const batch = [
    throttle(resent, "app", 1, "open", 0.6, opened, opened),
    throttle(resent, "app", 2, "update", 0.7, opened + 1_000, opened),
    crashLoop(resent, "app", 1),
  ];
  expect(await pipeline.handleBatch(CTX, batch)).toEqual({ dropped: 0 });
  await pipeline.writer.idle();
  const remembered = metrics.redelivery.bytes();
  // The crash loop's id only: the named samples' ids are not kept.
  expect(remembered).toBe((batch[2]?.id ?? "").length + 64);

  // The same batch again (its ack was lost): the crash loop is dropped as a redelivery, the
  // samples are folded again and count nothing twice.
  expect(await pipeline.handleBatch(CTX, batch)).toEqual({ dropped: 1 });
  expect((await metrics.redeliveriesDropped.get()).values[0]?.value).toBe(1);
  expect(metrics.redelivery.bytes()).toBe(remembered);
  await pipeline.stop();
  const whispers = (await getJson(cluster, "kernelwhispers", "ack")).filter((w) =>
    w.metadata.name.includes("cache"),
  );
  const bySignal = Object.fromEntries(whispers.map((w) => [w.spec.signal, w.status]));
  expect(bySignal.CPUThrottling.count).toBe(1);
  expect(bySignal.CPUThrottling.affectedPods[0].count).toBe(1);
  expect(bySignal.CrashLoopBackOff.count).toBe(1);
}, 30_000);
