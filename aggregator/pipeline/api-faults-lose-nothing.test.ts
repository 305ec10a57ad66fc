// API faults — 429, 500, 409 and a 10-second outage — lose no event: the batch resolves
// only once every event is written, with exact counts, and writes succeed after.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../../shared/metrics.ts";
import { createPipelineMetrics, type PipelineMetrics } from "./metrics.ts";
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
/** The API server's clock runs ahead by this much: lets a 10 s outage pass in no time. */
let skewMs = 0;

beforeAll(async () => {
  cluster = await startTestCluster({ clock: () => Date.now() + skewMs });
  await cluster.kubectl("create", "namespace", "faults");
}, 60_000);
afterAll(async () => cluster?.close());
afterEach(() => cluster.api.faults.clear());

const pod = (i: number): TestPod => ({ uid: `f-${i}`, namespace: "faults", name: `solo-${i}` });

async function countOf(name: string): Promise<number | undefined> {
  return (await getJson(cluster, "kw", "faults")).find((w) => w.metadata.name === name)?.status.count;
}

async function writes(metrics: PipelineMetrics, outcome: string): Promise<number> {
  const { values } = await metrics.crWrites.get();
  return values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
}

describe("API faults lose nothing", () => {
  it("retries through 500s and 429s and writes every event", async () => {
    const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
    const pipeline = testPipeline(cluster.kubeConfig, { metrics });
    pipeline.start();
    cluster.api.faults.failNext({ verb: "patch", resource: "kernelwhispers", status: 500, count: 3 });
    cluster.api.faults.failNext({
      verb: "patch",
      resource: "kernelwhispers",
      status: 429,
      count: 2,
      retryAfterSeconds: 0,
    });
    const p = pod(1);
    const result = await pipeline.handleBatch(CTX, [
      crashLoop(p, "app", 1),
      crashLoop(p, "app", 2),
      crashLoop(p, "app", 3),
    ]);
    expect(result.dropped).toBe(0);
    expect(await countOf("pod-solo-1.app.crash-loop-back-off")).toBe(3);
    expect(await writes(metrics, "error")).toBe(3);
    expect(await writes(metrics, "throttled")).toBe(2);
    await pipeline.stop();
  });

  it("a 409 re-reads the object and keeps the count exact", async () => {
    const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
    const pipeline = testPipeline(cluster.kubeConfig, { metrics });
    pipeline.start();
    const p = pod(2);
    await pipeline.handleBatch(CTX, [crashLoop(p, "app", 1)]);
    cluster.api.faults.failNext({ verb: "patch", resource: "kernelwhispers", status: 409, count: 2 });
    const gets = cluster.api.counters.get("get", "kernelwhispers");
    const result = await pipeline.handleBatch(CTX, [crashLoop(p, "app", 2), crashLoop(p, "app", 3)]);
    expect(result.dropped).toBe(0);
    expect(await countOf("pod-solo-2.app.crash-loop-back-off")).toBe(3);
    expect(await writes(metrics, "conflict")).toBe(2);
    expect(cluster.api.counters.get("get", "kernelwhispers") - gets).toBeGreaterThanOrEqual(2);
    await pipeline.stop();
  });

  it("a 10-second outage delays the ack, then every event is written", async () => {
    const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
    const pipeline = testPipeline(cluster.kubeConfig, { metrics });
    pipeline.start();
    const p = pod(3);
    cluster.api.faults.outage(10_000);
    let acked = false;
    const batch = pipeline
      .handleBatch(CTX, [crashLoop(p, "app", 1), throttle(p, "app", 1, "open", 0.95), crashLoop(p, "app", 2)])
      .then((r) => {
        acked = true;
        return r;
      });
    const gets = cluster.api.counters.get("get", "kernelwhispers");
    await expect
      .poll(() => cluster.api.counters.get("get", "kernelwhispers") - gets >= 6, {
        message: "retries during the outage",
        timeout: 20_000,
      })
      .toBe(true);
    expect(acked).toBe(false);
    expect(pipeline.writer.pending).toBe(2);
    skewMs += 10_000; // the outage is over
    const result = await batch;
    expect(result.dropped).toBe(0);
    await pipeline.writer.idle(); // throttle samples are acked once folded, written after (ADR 0011)
    expect(await countOf("pod-solo-3.app.crash-loop-back-off")).toBe(2);
    expect(await countOf("pod-solo-3.app.cpu-throttling")).toBe(1);
    await pipeline.stop();
  });

  it("a request the API server does not answer is aborted after the timeout and retried", async () => {
    const pipeline = testPipeline(cluster.kubeConfig, { requestTimeoutMs: 300 });
    pipeline.start();
    cluster.api.faults.latency(5_000);
    const gets = cluster.api.counters.get("get", "kernelwhispers");
    let acked = false;
    const batch = pipeline.handleBatch(CTX, [crashLoop(pod(5), "app", 1)]).then((r) => {
      acked = true;
      return r;
    });
    // a second attempt reaches the server long before the first could have been answered
    await expect
      .poll(() => cluster.api.counters.get("get", "kernelwhispers") - gets >= 2, {
        message: "a retried request",
      })
      .toBe(true);
    expect(acked).toBe(false);
    cluster.api.faults.latency(0);
    expect(await batch).toEqual({ dropped: 0 });
    expect(await countOf("pod-solo-5.app.crash-loop-back-off")).toBe(1);
    await pipeline.stop();
  });

  it("stopping rejects what could not be written, so the agent resends it", async () => {
    const pipeline = testPipeline(cluster.kubeConfig, { stopDeadlineMs: 200 });
    pipeline.start();
    cluster.api.faults.outage(60_000);
    const batch = pipeline.handleBatch(CTX, [crashLoop(pod(4), "app", 1)]);
    const outcome = batch.then(
      () => "acked",
      (err: Error) => err.name,
    );
    // The batch reached the writer and its write failed against the outage.
    await expect.poll(() => pipeline.writer.retrying, { message: "a failed write" }).toBe(1);
    await pipeline.stop();
    expect(await outcome).toBe("WriterStoppedError");
    await expect(pipeline.handleBatch(CTX, [crashLoop(pod(4), "app", 2)])).rejects.toThrow(/stopping/);
  });
});
