// The CR writer on a ManualClock against the local API server: a storm on one object
// becomes one write per minimum interval carrying the count; an escalation writes at once;
// the global token bucket bounds requests across objects.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { TokenBucket } from "../../shared/token-bucket.ts";
import { createPipelineMetrics } from "../pipeline/metrics.ts";
import { getJson, startTestCluster, type TestCluster } from "../pipeline/testing.ts";
import { kubeCrClient } from "./kube.ts";
import { testWhisper, throttlingOccurrence } from "./testing.ts";
import type { Occurrence } from "./whisper.ts";
import { CrWriter, type Doc, type WriteOutcome } from "./writer.ts";

/** The writer's waiter as a promise: the outcome of the write that carries the change. */
function submitted<D extends Doc>(
  writer: CrWriter,
  key: string,
  create: () => D,
  change: (doc: D) => boolean,
): Promise<WriteOutcome> {
  return new Promise((resolve, reject) => writer.submit(key, create, change, { resolve, reject }));
}

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "w");
}, 60_000);
afterAll(async () => cluster?.close());

function setup(options: { qps: number; burst: number; minIntervalMs: number }) {
  const clock = new ManualClock(Date.now());
  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const bucket = new TokenBucket({ rate: options.qps, burst: options.burst, clock });
  const writer = new CrWriter({
    client: kubeCrClient(cluster.kubeConfig),
    clock,
    log: silentLogger(),
    metrics,
    bucket,
    minIntervalMs: options.minIntervalMs,
  });
  return { clock, writer, metrics, bucket };
}

const whisper = (workload: string) => () => testWhisper(workload);

const occurrence = (ratio: number, count: number, at: number): Occurrence =>
  throttlingOccurrence({ at, ratio, count });

const patches = () =>
  cluster.api.counters.get("patch", "kernelwhispers") +
  cluster.api.counters.get("patch", "kernelwhispers/status");

describe("CR writer", () => {
  it("a storm of repeats becomes one write per minimum interval carrying the count", async () => {
    const { clock, writer, metrics } = setup({ qps: 100, burst: 100, minIntervalMs: 10_000 });
    const key = "KernelWhisper/w/storm";
    const before = patches();
    const outcomes: Promise<WriteOutcome>[] = [];
    outcomes.push(
      submitted(
        writer,
        key,
        whisper("storm"),
        (w) => w.recordBatch(undefined, [occurrence(0.6, 1, clock.now())]).escalate,
      ),
    );
    clock.advance(0); // first write is due at once
    await outcomes[0];
    expect(patches() - before).toBe(2); // create: spec + status
    for (let i = 0; i < 99; i++) {
      outcomes.push(
        submitted(
          writer,
          key,
          whisper("storm"),
          (w) => w.recordBatch(undefined, [occurrence(0.6, 1, clock.now())]).escalate,
        ),
      );
    }
    clock.advance(0);
    await writer.settled();
    // the 99 repeats wait for the interval
    expect(patches() - before).toBe(2);
    expect(writer.pending).toBe(1);
    clock.advance(9_999);
    await writer.settled();
    expect(patches() - before).toBe(2);
    clock.advance(1);
    await writer.settled();
    expect(patches() - before).toBe(3);
    expect(await Promise.all(outcomes)).toEqual(Array(100).fill("written"));
    const [obj] = await getJson(cluster, "kw", "w");
    expect(obj?.status.count).toBe(100);
    // The write lag says how long the oldest change a write carried waited: 0 s for the
    // first, the whole interval for the repeats; no token was waited for.
    const series = async (h: typeof metrics.writeLag, suffix: string) =>
      (await h.get()).values.find((v) => v.metricName?.endsWith(suffix) && v.labels.lane === "first")?.value;
    expect(await series(metrics.writeLag, "_count")).toBe(2);
    expect(await series(metrics.writeLag, "_sum")).toBe(10);
    expect(await series(metrics.writeTokenWait, "_sum")).toBe(0);
    await writer.stop(0);
  });

  it("a severity escalation writes at once, skipping the per-object interval", async () => {
    const { clock, writer } = setup({ qps: 100, burst: 100, minIntervalMs: 60_000 });
    const key = "KernelWhisper/w/escalate";
    const before = patches();
    const first = submitted(
      writer,
      key,
      whisper("escalate"),
      (w) => w.recordBatch(undefined, [occurrence(0.55, 1, clock.now())]).escalate,
    );
    clock.advance(0);
    await first;
    const same = submitted(
      writer,
      key,
      whisper("escalate"),
      (w) => w.recordBatch(undefined, [occurrence(0.6, 0, clock.now())]).escalate,
    );
    clock.advance(0);
    await writer.settled();
    expect(patches() - before).toBe(2); // still warning: waits for the interval
    const up = submitted(
      writer,
      key,
      whisper("escalate"),
      (w) => w.recordBatch(undefined, [occurrence(0.95, 0, clock.now())]).escalate,
    );
    clock.advance(0);
    await writer.settled();
    expect(patches() - before).toBe(3);
    expect(await Promise.all([same, up])).toEqual(["written", "written"]);
    const obj = (await getJson(cluster, "kw", "w")).find((o) => o.spec.workload.name === "escalate");
    expect(obj?.status.severity).toBe("critical");
    await writer.stop(0);
  });

  it("the global token bucket bounds requests across objects", async () => {
    const { clock, writer, bucket } = setup({ qps: 2, burst: 3, minIntervalMs: 0 });
    const before = patches();
    const all = Array.from({ length: 5 }, (_, i) =>
      submitted(
        writer,
        `KernelWhisper/w/bucket-${i}`,
        whisper(`bucket-${i}`),
        (w) => w.recordBatch(undefined, [occurrence(0.6, 1, clock.now())]).escalate,
      ),
    );
    clock.advance(0);
    // The burst is spent and the writer waits on the bucket: with no time passing, no more.
    await expect
      .poll(() => ({ patches: patches() - before, waitingForAToken: bucket.waiting }))
      .toEqual({ patches: 3, waitingForAToken: 1 });
    for (let s = 1; s <= 4; s++) {
      clock.advance(1_000); // two more tokens per second
      await expect
        .poll(() => patches() - before === Math.min(3 + 2 * s, 10), { message: `second ${s}` })
        .toBe(true);
    }
    expect(await Promise.all(all)).toEqual(Array(5).fill("written"));
    await writer.stop(0);
  });

  it("an object the API server refuses (422) is answered as invalid, not retried forever", async () => {
    const { clock, writer, metrics } = setup({ qps: 100, burst: 100, minIntervalMs: 0 });
    const bogus = () => testWhisper("bogus", "NotASignal" as "Error");
    const a = submitted(
      writer,
      "KernelWhisper/w/bogus",
      bogus,
      (w) => w.recordBatch(undefined, [occurrence(0.6, 1, clock.now())]).escalate,
    );
    const b = submitted(
      writer,
      "KernelWhisper/w/bogus",
      bogus,
      (w) => w.recordBatch(undefined, [occurrence(0.6, 1, clock.now())]).escalate,
    );
    clock.advance(0);
    expect(await Promise.all([a, b])).toEqual(["invalid", "invalid"]);
    expect(writer.pending).toBe(0);
    const invalid = (await metrics.crWrites.get()).values.find((v) => v.labels.outcome === "invalid");
    expect(invalid?.value).toBe(1);
    await writer.stop(0);
  });
});
