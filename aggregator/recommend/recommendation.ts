// The recommendation for a whisper: one source of truth for every signal, as severity.ts is
// for its severity. CPUThrottling gets a CPU limit from its demand windows (cpu.ts), memory
// pressure and OOM kills a memory limit (memory.ts), a termination what its exit means
// (crash.ts); anything else is to be investigated.
import type { Evidence, Recommendation, Signal } from "../types/index.ts";
import { recommendCpu } from "./cpu.ts";
import { recommendTermination } from "./crash.ts";
import { recommendMemory, recommendMemoryPressure } from "./memory.ts";

export interface RecommendationInput {
  signal: Signal;
  /** The evidence of the whisper's newest occurrence. */
  evidence: Evidence;
  /** Per-window CPU demand in cores, oldest first. */
  samples: readonly number[];
  /** The HorizontalPodAutoscaler targeting the workload, when one does. */
  hpa: string | undefined;
  /** Occurrences counted. */
  count: number;
}

export function recommendationOf({
  signal,
  evidence: e,
  samples,
  hpa,
  count,
}: RecommendationInput): Recommendation {
  if (signal === "CPUThrottling") {
    const t = e.throttling;
    return recommendCpu({
      samples,
      // Limited by the pod's quota alone (no container limit): that quota is the limit.
      limitCores: t?.limitCores || (t?.limitedBy === "pod" ? t.podLimitCores : 0) || 0,
      hpa,
      nodeCpus: t?.nodeCpus,
      method: t?.demandMethod,
      limitedBy: t?.limitedBy,
      podLimitCores: t?.podLimitCores,
    });
  }
  if (signal === "MemoryPressure" && e.memory) return recommendMemoryPressure(e.memory);
  if (signal === "OOMKilled" && e.oom) return recommendMemory(e.oom, count);
  if (e.termination) return recommendTermination(e.termination);
  return { action: "Investigate", summary: `${count} occurrences. See the evidence.` };
}
