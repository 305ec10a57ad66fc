// Memory limit recommendation after an OOM kill: the observed peak (or the limit it hit)
// plus 20 % or 100 MiB, whichever is larger.
import type { Confidence, MemoryPressureEvidence, OomEvidence, Recommendation } from "../types/index.ts";
import { formatMemory, MEBIBYTE } from "./quantity.ts";

export const MEMORY_HEADROOM_RATIO = 0.2;
export const MEMORY_HEADROOM_MIN_BYTES = 100 * MEBIBYTE;

export function recommendMemory(oom: OomEvidence, kills: number): Recommendation {
  const base = Math.max(oom.peakBytes, oom.limitBytes);
  const who =
    oom.source === "kernel" && oom.mainProcessSurvived
      ? "The OOM killer killed a child process while the container kept running"
      : "The container was OOM-killed";
  if (base <= 0) {
    return {
      action: "Investigate",
      summary: `no memory limit, peak unknown, ${kills} kills. ${who} under node memory pressure; set a memory request and limit close to the real usage.`,
      samples: kills,
    };
  }
  const target = Math.max(base * (1 + MEMORY_HEADROOM_RATIO), base + MEMORY_HEADROOM_MIN_BYTES);
  const limit = oom.limitBytes > 0 ? `limit ${formatMemory(oom.limitBytes)}` : "no limit";
  const peak = oom.peakBytes > 0 ? `, peak ${formatMemory(oom.peakBytes)}` : "";
  const w = oom.precededBy;
  const warned = w
    ? ` MemoryPressure warned ${w.leadSeconds}s before the kill (KernelWhisper ${w.whisper || "MemoryPressure"}).`
    : "";
  return {
    action: "SetMemoryLimit",
    summary: `${limit}${peak} → ${formatMemory(target)} (max of +20 % and +100Mi), ${kills} kills. ${who}; raise the memory limit to ${formatMemory(target)} or find what grows.${warned}`,
    memoryLimit: formatMemory(target),
    samples: kills,
  };
}

/** Scans an episode must span before a limit is recommended with low, medium, high confidence. */
export const MEMORY_CONFIDENCE_SCANS = { low: 1, medium: 6, high: 30 } as const;

function memoryConfidence(samples: number): Confidence {
  if (samples >= MEMORY_CONFIDENCE_SCANS.high) return "high";
  if (samples >= MEMORY_CONFIDENCE_SCANS.medium) return "medium";
  return samples >= MEMORY_CONFIDENCE_SCANS.low ? "low" : "none";
}

const pct = (r: number): string => `${Math.round(r * 100)} %`;

/**
 * A memory limit before the kill: the working-set peak the episode saw plus the same headroom
 * as after an OOM kill (+20 % or +100 MiB, whichever is larger); confidence from how many scans
 * the peak is based on. No limit is said as such: the risk is then the node's OOM killer.
 */
export function recommendMemoryPressure(m: MemoryPressureEvidence): Recommendation {
  const peak = Math.max(m.workingSetPeakBytes, m.workingSetBytes);
  const confidence = memoryConfidence(m.samples);
  const target = Math.max(peak * (1 + MEMORY_HEADROOM_RATIO), peak + MEMORY_HEADROOM_MIN_BYTES);
  const basis = `working-set peak ${formatMemory(peak)} + max(20 %, 100Mi), ${m.samples} scans, confidence ${confidence}`;
  const psi = m.pressure ? `, memory PSI full avg10 ${m.pressure.fullAvg10} %` : "";
  if (m.limitBytes <= 0) {
    return {
      action: "SetMemoryLimit",
      summary: `no memory limit, working set ${formatMemory(m.workingSetBytes)}${psi} → ${formatMemory(target)} (${basis}). Without a limit nothing caps this container: under node memory pressure the node's OOM killer or the kubelet's eviction picks the victim; set a memory request and limit of ${formatMemory(target)}.`,
      memoryLimit: formatMemory(target),
      confidence,
      samples: m.samples,
    };
  }
  const now = `limit ${formatMemory(m.limitBytes)}, working set ${formatMemory(m.workingSetBytes)} (${pct(m.workingSetRatio)}), ≥ ${pct(m.windowMinRatio)} over ${m.windowSeconds}s, ${m.limitHits} limit hits${psi}`;
  if (target <= m.limitBytes) {
    return {
      action: "Investigate",
      summary: `${now}; ${basis} fits under the limit. The stall is not the working set outgrowing the limit: look for reclaim of file cache the container keeps re-reading.`,
      confidence,
      samples: m.samples,
    };
  }
  return {
    action: "SetMemoryLimit",
    summary: `${now} → ${formatMemory(target)} (${basis}). The OOM killer takes this container once the working set reaches the limit; raise the memory limit to ${formatMemory(target)} or find what grows.`,
    memoryLimit: formatMemory(target),
    confidence,
    samples: m.samples,
  };
}
