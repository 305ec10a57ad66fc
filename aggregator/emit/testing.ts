// Test support for the whisper and writer tests: a CPU throttling occurrence as the pipeline
// folds it (evidence of a 0.5-core limit, one demand sample).
import type { Evidence } from "../types/index.ts";
import type { Occurrence } from "./types.ts";

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
