// CPU limit recommendation from per-interval demand estimates (ADR 0012): never above the
// node's CPUs, and it names how the demand was computed and which quota limited.
import type { Confidence, Recommendation } from "../types/index.ts";
import { formatCpu, percentile, roundUpCores } from "./quantity.ts";

export interface CpuPolicy {
  /** Percentile of per-window demand the limit must cover (0..1). */
  percentile: number;
  /** Headroom added on top of that percentile (0.2 = +20 %). */
  headroom: number;
  /** Fewer windows than this: "not enough data yet". */
  minSamples: number;
  /** From this many windows confidence is medium, then high. */
  mediumSamples: number;
  highSamples: number;
}

export const DEFAULT_CPU_POLICY: CpuPolicy = {
  percentile: 0.95,
  headroom: 0.2,
  minSamples: 6,
  mediumSamples: 30,
  highSamples: 120,
};

export interface CpuInput {
  /** Per-window demand in cores, oldest first. */
  samples: readonly number[];
  /** Current CPU limit in cores, 0 when none. */
  limitCores: number;
  /** Name of the HorizontalPodAutoscaler targeting the workload, when one does. */
  hpa?: string | undefined;
  /** The node's CPUs; 0/undefined unknown (older agents). A limit above it is never recommended. */
  nodeCpus?: number;
  /** How the latest demand was computed ("threads", "cgroup-upper-bound", "none"). */
  method?: string;
  /** Which quota throttled, and the pod cgroup's limit in cores (0 none). */
  limitedBy?: "container" | "pod";
  podLimitCores?: number;
}

const METHOD_WORDS: Record<string, string> = {
  threads: "demand from per-thread scheduler time",
  "cgroup-upper-bound":
    "demand is an upper bound (usage + throttled time; the agent could not read the threads)",
};

export function confidenceOf(samples: number, policy: CpuPolicy): Confidence {
  if (samples < policy.minSamples) return "none";
  if (samples < policy.mediumSamples) return "low";
  if (samples < policy.highSamples) return "medium";
  return "high";
}

const cores = (n: number): string => `${n.toFixed(2)} cores`;

export function recommendCpu(input: CpuInput, policy: CpuPolicy = DEFAULT_CPU_POLICY): Recommendation {
  const n = input.samples.length;
  const confidence = confidenceOf(n, policy);
  const pct = Math.round(policy.percentile * 100);
  const headroom = Math.round(policy.headroom * 100);
  if (input.limitCores <= 0) {
    const p = n > 0 ? percentile(input.samples, policy.percentile) : 0;
    return {
      action: "NoLimit",
      summary: `no CPU limit, p${pct} demand ${cores(p)} (${n} windows). Nothing is CFS-throttled by a limit here; keep the CPU request near the demand.`,
      confidence,
      samples: n,
    };
  }
  if (n < policy.minSamples) {
    const old =
      !input.nodeCpus && n === 0
        ? " The agent predates physical demand estimates (ADR 0012): upgrade it to get a recommendation."
        : "";
    return {
      action: "NotEnoughData",
      summary: `limit ${formatCpu(input.limitCores)}, ${n} of ${policy.minSamples} windows. Not enough data yet to recommend a CPU limit.${old}`,
      confidence,
      samples: n,
    };
  }
  const p = percentile(input.samples, policy.percentile);
  const nodeCpus = input.nodeCpus ?? 0;
  const wanted = roundUpCores(p * (1 + policy.headroom));
  // A limit above the node's CPUs cannot be used: the node is the ceiling.
  const target = nodeCpus > 0 ? Math.min(wanted, nodeCpus) : wanted;
  const ceiling = nodeCpus > 0 && wanted > nodeCpus ? `, capped at the node's ${nodeCpus} CPUs` : "";
  const how = METHOD_WORDS[input.method ?? ""];
  const pod =
    input.limitedBy === "pod"
      ? `; the pod cgroup's quota${input.podLimitCores ? ` (${formatCpu(input.podLimitCores)})` : ""} throttled, which the kubelet sets to the sum of the containers' limits`
      : "";
  const basis = `p${pct} demand ${cores(p)} + ${headroom} %${ceiling}, ${n} windows, confidence ${confidence}${how ? `; ${how}` : ""}${pod}`;
  if (input.hpa) {
    return {
      action: "HPAManaged",
      summary: `limit ${formatCpu(input.limitCores)} → ${formatCpu(target)} per pod (${basis}). An HorizontalPodAutoscaler (${input.hpa}) manages this workload: raise the per-pod limit or lower the HPA's CPU target instead of adding replicas by hand.`,
      cpuLimit: formatCpu(target),
      confidence,
      samples: n,
    };
  }
  if (target <= input.limitCores) {
    return {
      action: "RemoveCPULimit",
      summary: `limit ${formatCpu(input.limitCores)}, ${basis} fits under it. Throttling comes from bursts shorter than a window that no limit sized to the demand absorbs; remove the CPU limit and keep the request.`,
      confidence,
      samples: n,
    };
  }
  return {
    action: "SetCPULimit",
    summary: `limit ${formatCpu(input.limitCores)} → ${formatCpu(target)} (${basis}). The container needs more CPU than its limit allows; raise the limit to ${formatCpu(target)}.`,
    cpuLimit: formatCpu(target),
    confidence,
    samples: n,
  };
}
