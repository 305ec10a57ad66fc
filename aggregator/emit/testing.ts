// Test support for the whisper and writer tests: a CPU throttling whisper of a Deployment and
// an occurrence as the pipeline folds it (evidence of a 0.5-core limit, one demand sample).
import type { Evidence } from "../types/index.ts";
import type { Occurrence, WhisperSettings } from "./types.ts";
import { WhisperState } from "./whisper.ts";

/** Whisper settings of the tests: warning at a 0.5 throttled ratio, critical at 0.8, 10 pods listed. */
export const TEST_WHISPER_SETTINGS: WhisperSettings = {
  thresholds: { warning: 0.5, critical: 0.8 },
  maxAffectedPods: 10,
};

/** A whisper of Deployment `workload`'s container "app" in namespace "w" (CPUThrottling unless said). */
export function testWhisper(
  workload: string,
  signal: WhisperState["identity"]["signal"] = "CPUThrottling",
): WhisperState {
  return new WhisperState(
    {
      cluster: "c",
      project: "p",
      workload: { kind: "Deployment", name: workload },
      namespace: "w",
      container: "app",
      signal,
    },
    TEST_WHISPER_SETTINGS,
  );
}

/** A throttling sample of pod `pod` at `at`: an opening when `count` is 1, else an update. */
export function throttlingOccurrence(o: {
  pod?: string;
  at: number;
  ratio?: number;
  count?: number;
  episode?: number;
}): Occurrence {
  const { pod, at, ratio = 0.6, count = 0, episode } = o;
  const evidence: Evidence = {
    throttling: {
      state: count ? "Open" : "Update",
      ratio,
      throttledSeconds: 1,
      coresUsed: 0.5,
      limitCores: 0.5,
      demandCores: 0.9,
      windowSeconds: 10,
      pressureSomeAvg10: -1,
      demandMethod: "threads",
      nodeCpus: 2,
      limitedBy: "container",
      podLimitCores: 0,
      podRatio: 0,
      runnableThreads: 1,
    },
  };
  return {
    pod: pod
      ? { uid: pod, namespace: "w", name: pod, node: "n1", qosClass: "Burstable" }
      : { uid: "u1", namespace: "w", name: "p1", node: "n1", qosClass: "Burstable" },
    observedAtMs: at,
    count,
    ...(episode !== undefined && { episode }),
    evidence,
    resolved: false,
    demandSamples: [0.9],
  };
}
