// Whatever an agent sends, the builders produce objects the CRD schema accepts (the local
// API server validates strictly): out-of-range numbers, huge messages, odd names, many
// pods. Objects stay small, and pod Events are rate-limited per pod.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../../shared/metrics.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { createPipelineMetrics } from "./metrics.ts";
import {
  birth,
  CTX,
  crashLoop,
  createPod,
  getJson,
  startTestCluster,
  type TestCluster,
  testPipeline,
  throttle,
} from "./testing.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "odd");
}, 60_000);
afterAll(async () => cluster?.close());

describe("hostile events still make valid objects", () => {
  it("clamps, truncates and names everything so the API server accepts it", async () => {
    const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
    const pipeline = testPipeline(cluster.kubeConfig, {
      metrics,
      settings: { maxAffectedPods: 100, podEvents: false },
    });
    pipeline.start();
    const events: WireEvent[] = [];
    for (let i = 0; i < 150; i++) {
      const pod = {
        uid: `odd-${i}`,
        namespace: "odd",
        name: `${"x".repeat(200)}-${i}`,
        node: `node-${"n".repeat(200)}`,
        labels: { "workload-id": "Ünïcode_Wörkload with spaces/and/slashes".repeat(8) },
      };
      const crash = crashLoop(pod, "c".repeat(63), i + 1);
      crash.failure = {
        ...crash.failure,
        message: "💥".repeat(5000),
        exitCode: -1,
        signal: 999,
        reason: "SomethingNew",
      };
      events.push(crash);
      const t = throttle(pod, "c".repeat(63), i, "open", 7.5);
      t.throttle = {
        ...t.throttle,
        throttledSeconds: Number.NaN,
        coresUsed: -3,
        demandSamples: [Number.POSITIVE_INFINITY, 2],
      };
      events.push(t);
    }
    const podName = "b".repeat(63);
    const hugeBirth = birth({
      uid: await createPod(cluster, "odd", podName),
      namespace: "odd",
      name: podName,
    });
    hugeBirth.birth = {
      ...hugeBirth.birth,
      failureReason: "r".repeat(5000),
      steps: Array.from({ length: 200 }, (_, i) => ({
        name: `step-${"s".repeat(200)}`,
        actor: 99 as number,
        durationMs: i,
      })),
    };
    events.push(hugeBirth);

    const result = await pipeline.handleBatch(CTX, events);
    expect(result.dropped).toBe(0);
    await pipeline.writer.idle(); // throttle samples are acked once folded, written after (ADR 0011)
    const invalid = (await metrics.crWrites.get()).values.filter((v) => v.labels.outcome === "invalid");
    expect(invalid).toEqual([]);

    const whispers = await getJson(cluster, "kw", "odd");
    expect(whispers.map((w) => w.spec.signal).sort()).toEqual(["CPUThrottling", "Error"]);
    for (const w of whispers) {
      expect(w.metadata.name.length).toBeLessThanOrEqual(253);
      expect(w.status.count).toBe(150);
      expect(w.status.affectedPods).toHaveLength(100);
      const bytes = Buffer.byteLength(JSON.stringify(w));
      expect(bytes).toBeLessThan(64 * 1024);
      console.log(`${w.spec.signal} whisper with 100 affected pods: ${bytes} bytes`);
    }
    const thr = whispers.find((w) => w.spec.signal === "CPUThrottling");
    expect(thr?.status.evidence.throttling).toMatchObject({ ratio: 1, throttledSeconds: 0, coresUsed: 0 });
    const [pbc] = await getJson(cluster, "pbc", "odd");
    expect(pbc?.spec.steps).toHaveLength(64);
    expect(pbc?.spec.steps[0].actor).toBe("Unknown");
    await pipeline.stop();
  });

  it("pod Events are rate-limited per pod like client-go's spam filter (burst 25)", async () => {
    await cluster.kubectl("create", "namespace", "noisy");
    const pipeline = testPipeline(cluster.kubeConfig);
    pipeline.start();
    const pod = { uid: "noisy-1", namespace: "noisy", name: "noisy" };
    const events = Array.from({ length: 30 }, (_, i) => crashLoop(pod, `c${i}`, 1));
    expect((await pipeline.handleBatch(CTX, events)).dropped).toBe(0);
    await pipeline.podEvents.drain();
    const written = JSON.parse(await cluster.kubectl("get", "events", "-n", "noisy", "-o", "json")).items;
    expect((await getJson(cluster, "kw", "noisy")).length).toBe(30);
    expect(written.length).toBe(25);
    await pipeline.stop();
  });
});
