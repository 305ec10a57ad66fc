// Memory limit recommendation after an OOM kill: the observed peak (or the limit it hit)
// plus 20 % or 100 MiB, whichever is larger.
import type { OomEvidence, Recommendation } from "../types/index.ts";
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
  return {
    action: "SetMemoryLimit",
    summary: `${limit}${peak} → ${formatMemory(target)} (max of +20 % and +100Mi), ${kills} kills. ${who}; raise the memory limit to ${formatMemory(target)} or find what grows.`,
    memoryLimit: formatMemory(target),
    samples: kills,
  };
}
