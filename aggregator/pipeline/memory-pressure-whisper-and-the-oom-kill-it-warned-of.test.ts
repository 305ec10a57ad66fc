// Against the local API server with the real kubectl: a MemoryPressure episode becomes a
// KernelWhisper with its evidence, severity and a memory-limit recommendation; the OOM kill
// that follows links back to it with the lead time; no limit is reported as such.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OomSource, ThrottleState, type WireEvent } from "../../shared/proto.ts";
import type { BatchPipeline } from "./index.ts";
import { CTX, getJson, startTestCluster, type TestCluster, type TestPod, testPipeline } from "./testing.ts";

const MiB = 1024 * 1024;
let cluster: TestCluster;
let pipeline: BatchPipeline;

beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.apply("apiVersion: v1\nkind: Namespace\nmetadata: { name: cache }\n");
  pipeline = testPipeline(cluster.kubeConfig);
});
afterAll(async () => {
  await pipeline?.stop();
  await cluster?.close();
});

const pod: TestPod = { uid: "3f1c9a7e-0000-4000-8000-00000000a001", namespace: "cache", name: "redis-0" };
const ref = {
  uid: pod.uid,
  namespace: pod.namespace,
  name: pod.name,
  node: "node-1",
  labels: {},
  owners: [],
};
const OPENED = Date.parse("2026-12-06T10:00:00Z");

function pressure(
  state: "open" | "update" | "resolved",
  seq: number,
  at: number,
  m: Partial<NonNullable<WireEvent["memory"]>>,
): WireEvent {
  const states = {
    open: ThrottleState.THROTTLE_STATE_OPEN,
    update: ThrottleState.THROTTLE_STATE_UPDATE,
    resolved: ThrottleState.THROTTLE_STATE_RESOLVED,
  };
  return {
    id: `${pod.uid}/server/memory-pressure/${OPENED}/${state}/${seq}`,
    pod: ref,
    container: "server",
    observedAtMs: at,
    count: 1,
    memory: { state: states[state], cgroupVersion: 2, openedAtMs: OPENED, windowSeconds: 60, ...m },
  };
}

const whisper = async (name: string) =>
  (await getJson(cluster, "kw", "cache")).find((o) => o.metadata.name === name);

describe("MemoryPressure whispers", () => {
  it("an open episode near the limit is a warning with the evidence and a memory limit to set", async () => {
    await pipeline.handleBatch(CTX, [
      pressure("open", 0, OPENED, {
        workingSetBytes: 58 * MiB,
        limitBytes: 64 * MiB,
        usageBytes: 60 * MiB,
        peakBytes: 61 * MiB,
        workingSetPeakBytes: 59 * MiB,
        windowMinRatio: 0.91,
        limitHits: 0,
        limitHitsTotal: 2,
        triggers: ["NearLimit"],
        samples: 6,
        pressure: {
          someAvg10: 1.5,
          someAvg60: 0.5,
          fullAvg10: 1.2,
          fullAvg60: 0.4,
          someStallSeconds: 0.8,
          fullStallSeconds: 0.6,
        },
      }),
    ]);
    const w = await whisper("pod-redis-0.server.memory-pressure");
    expect(w?.spec.signal).toBe("MemoryPressure");
    expect(w?.status.severity).toBe("warning");
    expect(w?.status.memory).toBe("91%/64Mi");
    expect(w?.status.evidence.memory).toMatchObject({
      state: "Open",
      workingSetBytes: 58 * MiB,
      limitBytes: 64 * MiB,
      workingSetPeakBytes: 59 * MiB,
      windowMinRatio: 0.91,
      limitHitsTotal: 2,
      triggers: ["NearLimit"],
      openedAt: "2026-12-06T10:00:00Z",
      pressure: { fullAvg10: 1.2, someStallSeconds: 0.8 },
    });
    // 59Mi peak: +100Mi is more than +20 % → 159Mi; 6 scans → medium.
    expect(w?.status.recommendation).toMatchObject({
      action: "SetMemoryLimit",
      memoryLimit: "159Mi",
      confidence: "medium",
    });
    const table = await cluster.kubectl("get", "kw", "-n", "cache");
    expect(table).toMatch(
      /pod-redis-0\.server\.memory-pressure\s+redis-0\s+server\s+MemoryPressure\s+warning\s+-\s+91%\/64Mi\s+1\s/,
    );
  });

  it("the limit hit while the working set sits at it is critical; resolved turns the whisper resolved", async () => {
    await pipeline.handleBatch(CTX, [
      pressure("update", 1, OPENED + 10_000, {
        workingSetBytes: 63 * MiB,
        limitBytes: 64 * MiB,
        workingSetPeakBytes: 63 * MiB,
        windowMinRatio: 0.92,
        limitHits: 5,
        limitHitsTotal: 7,
        triggers: ["NearLimit", "LimitHit"],
        samples: 7,
      }),
    ]);
    expect((await whisper("pod-redis-0.server.memory-pressure"))?.status.severity).toBe("critical");
    await pipeline.handleBatch(CTX, [
      pressure("resolved", 2, OPENED + 40_000, {
        workingSetBytes: 20 * MiB,
        limitBytes: 64 * MiB,
        workingSetPeakBytes: 63 * MiB,
        samples: 10,
      }),
    ]);
    const w = await whisper("pod-redis-0.server.memory-pressure");
    expect(w?.status.conditions.find((c: { type: string }) => c.type === "Resolved")?.status).toBe("True");
    expect(w?.status.count).toBe(1); // one episode
    expect(w?.status.recommendation.memoryLimit).toBe("163Mi"); // from the episode's 63Mi peak
  });

  it("the OOM kill that follows names the warning and how long before the kill it came", async () => {
    await pipeline.handleBatch(CTX, [
      {
        id: `${pod.uid}/server/abc/oom-kill/1`,
        pod: ref,
        container: "server",
        observedAtMs: OPENED + 95_000,
        count: 1,
        oom: {
          source: OomSource.OOM_SOURCE_KERNEL,
          kills: 1,
          memoryLimitBytes: 64 * MiB,
          memoryPeakBytes: 64 * MiB,
          mainProcessSurvived: true,
          precedingPressure: {
            openedAtMs: OPENED,
            resolvedAtMs: OPENED + 40_000,
            workingSetPeakBytes: 63 * MiB,
            limitBytes: 64 * MiB,
          },
        },
      },
    ]);
    const oom = await whisper("pod-redis-0.server.oom-killed");
    expect(oom?.status.evidence.oom.precededBy).toEqual({
      whisper: "pod-redis-0.server.memory-pressure",
      openedAt: "2026-12-06T10:00:00Z",
      resolvedAt: "2026-12-06T10:00:40Z",
      leadSeconds: 95,
      workingSetPeakBytes: 63 * MiB,
      limitBytes: 64 * MiB,
    });
    expect(oom?.status.memory).toBe("warned-95s");
    expect(oom?.status.recommendation.summary).toContain("MemoryPressure warned 95s before the kill");
  });

  it("no memory limit is reported as no limit, with a limit to set", async () => {
    const other: WireEvent = {
      ...pressure("open", 0, OPENED, {
        workingSetBytes: 900 * MiB,
        limitBytes: 0,
        workingSetPeakBytes: 900 * MiB,
        triggers: ["Stall"],
        samples: 1,
        pressure: {
          someAvg10: 40,
          someAvg60: 20,
          fullAvg10: 30,
          fullAvg60: 10,
          someStallSeconds: 9,
          fullStallSeconds: 6,
        },
      }),
      id: "nolimit/open",
      container: "sidecar",
    };
    await pipeline.handleBatch(CTX, [other]);
    const w = await whisper("pod-redis-0.sidecar.memory-pressure");
    expect(w?.status.memory).toBe("no-limit");
    expect(w?.status.severity).toBe("warning");
    expect(w?.status.evidence.memory).toMatchObject({
      limitBytes: 0,
      workingSetRatio: 0,
      triggers: ["Stall"],
    });
    expect(w?.status.recommendation).toMatchObject({
      action: "SetMemoryLimit",
      memoryLimit: "1080Mi",
      confidence: "low",
    });
    expect(w?.status.recommendation.summary).toMatch(
      /^no memory limit, working set 900Mi, memory PSI full avg10 30 %/,
    );
  });
});
