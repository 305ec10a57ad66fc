// The pipeline's edge: which signal, count and evidence each wire event becomes.
import { describe, expect, it } from "vitest";
import { OomSource, ThrottleState, type WireEvent } from "../../shared/proto.ts";
import { podIdentity, signalFacts } from "./from-wire.ts";

const pod = { uid: "u", namespace: "ns", name: "p", node: "n1" };
const failure = (reason: string, extra: Partial<NonNullable<WireEvent["failure"]>> = {}): WireEvent => ({
  id: "x",
  pod,
  container: "c",
  count: 3,
  failure: { reason, exitCode: 137, restartCount: 4, ...extra },
});

describe("wire events become signals", () => {
  const cases: [string, string][] = [
    ["CrashLoopBackOff", "CrashLoopBackOff"],
    ["OOMKilled", "OOMKilled"],
    ["ImagePullBackOff", "ImagePullBackOff"],
    ["ErrImagePull", "ImagePullBackOff"],
    ["CreateContainerConfigError", "CreateContainerConfigError"],
    ["Evicted", "Evicted"],
    ["Error", "Error"],
    ["ContainerCannotRun", "Error"],
  ];
  for (const [reason, signal] of cases) {
    it(`failure ${reason} → ${signal}, counted with its dedup count`, () => {
      const f = signalFacts(failure(reason));
      expect(f?.signal).toBe(signal);
      expect(f?.count).toBe(3);
      expect(f?.evidence.termination?.reason).toBe(reason);
    });
  }

  it("a kubelet OOMKilled carries the memory limit as oom evidence", () => {
    const f = signalFacts(failure("OOMKilled", { memoryLimitBytes: 1024 }));
    expect(f?.evidence.oom).toEqual({
      source: "kubelet",
      limitBytes: 1024,
      peakBytes: 0,
      mainProcessSurvived: false,
    });
    expect(f?.evidence.termination?.meaning).toContain("OOM killer");
  });

  it("a kernel OOM (main process survived) is OOMKilled with source kernel, counted by kills", () => {
    const f = signalFacts({
      id: "k",
      pod,
      container: "c",
      count: 1,
      oom: { source: OomSource.OOM_SOURCE_KERNEL, kills: 4, memoryPeakBytes: 10, mainProcessSurvived: true },
    });
    expect(f).toMatchObject({
      signal: "OOMKilled",
      count: 4,
      evidence: { oom: { source: "kernel", mainProcessSurvived: true } },
    });
  });

  it("throttling counts episodes opened, not updates; resolved turns the whisper Resolved", () => {
    const t = (state: number): WireEvent => ({
      id: "t",
      pod,
      container: "c",
      count: 1,
      throttle: {
        state,
        throttledRatio: 0.9,
        limitCores: 1,
        demandCores: 1.4,
        demandSamples: [1.2, 1.4],
        nodeCpus: 2,
        demandMethod: "threads",
      },
    });
    expect(signalFacts(t(ThrottleState.THROTTLE_STATE_OPEN))).toMatchObject({
      count: 1,
      resolved: false,
      demandSamples: [1.2, 1.4],
    });
    expect(signalFacts(t(ThrottleState.THROTTLE_STATE_UPDATE))).toMatchObject({ count: 0, resolved: false });
    expect(signalFacts(t(ThrottleState.THROTTLE_STATE_RESOLVED))).toMatchObject({ count: 0, resolved: true });
    expect(signalFacts(t(ThrottleState.THROTTLE_STATE_UNSPECIFIED))?.evidence.throttling?.state).toBe(
      "Update",
    );
  });

  it("demand is physical: never above the node's CPUs; an agent that predates the bound gives none (ADR 0012)", () => {
    const t = (throttle: WireEvent["throttle"]): WireEvent => ({
      id: "t",
      pod,
      container: "c",
      count: 1,
      throttle,
    });
    const bounded = signalFacts(
      t({ state: ThrottleState.THROTTLE_STATE_UPDATE, nodeCpus: 2, demandCores: 7, demandSamples: [1, 3.5] }),
    );
    expect(bounded?.demandSamples).toEqual([1, 2]);
    expect(bounded?.evidence.throttling).toMatchObject({ demandCores: 2, nodeCpus: 2, demandMethod: "none" });
    // An old agent: "usage + throttled time", summed over per-CPU run queues, is not demand.
    const old = signalFacts(
      t({ state: ThrottleState.THROTTLE_STATE_OPEN, demandCores: 1.87, demandSamples: [1.87, 2.25] }),
    );
    expect(old?.demandSamples).toEqual([]);
    expect(old?.evidence.throttling).toMatchObject({ demandCores: 0, demandMethod: "none", nodeCpus: 0 });
  });

  it("an event without pod identity has none; the connection's node fills a missing pod node", () => {
    expect(podIdentity({ uid: "u", namespace: "ns" }, "n")).toBeUndefined();
    expect(podIdentity({ uid: "u", namespace: "ns", name: "p" }, "node-9")?.node).toBe("node-9");
    expect(signalFacts({ id: "e", pod, container: "c" })).toBeUndefined();
  });
});
