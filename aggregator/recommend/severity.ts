// Severity of a whisper: one source of truth for every signal. Throttling thresholds come
// from the aggregator's --throttle-warning / --throttle-critical, memory pressure thresholds
// from --memory-warning / --memory-critical.
import type { Evidence, MemoryPressureEvidence, Severity, Signal } from "../types/index.ts";

export interface SeverityThresholds {
  /** Throttled ratio above which throttling is a warning (default 0.5). */
  warning: number;
  /** Throttled ratio above which throttling is critical (default 0.8). */
  critical: number;
  /** Working set / limit held over the window from which memory pressure is a warning (default 0.9). */
  memoryWarning?: number;
  /** … and critical (default 0.95). */
  memoryCritical?: number;
}

export const DEFAULT_THRESHOLDS: SeverityThresholds = {
  warning: 0.5,
  critical: 0.8,
  memoryWarning: 0.9,
  memoryCritical: 0.95,
};

/**
 * How close and how persistent: critical when the limit was hit while the working set sat at
 * it (reclaim is failing) or the working set stayed at ≥ memoryCritical of the limit over the
 * whole window; warning at ≥ memoryWarning over the window, or tasks stalling on memory;
 * info once resolved.
 */
export function memorySeverity(m: MemoryPressureEvidence, thresholds: SeverityThresholds): Severity {
  if (m.state === "Resolved") return "info";
  const critical = thresholds.memoryCritical ?? 0.95;
  const warning = thresholds.memoryWarning ?? 0.9;
  if (m.triggers.includes("LimitHit")) return "critical";
  if (m.limitBytes > 0 && m.windowMinRatio >= critical) return "critical";
  if (m.limitBytes > 0 && m.windowMinRatio >= warning) return "warning";
  if (m.triggers.length > 0) return "warning";
  return "info";
}

export function throttlingSeverity(ratio: number, thresholds: SeverityThresholds): Severity {
  if (ratio > thresholds.critical) return "critical";
  if (ratio > thresholds.warning) return "warning";
  return "info";
}

/**
 * CPUThrottling by its ratio; a kubelet OOM kill or a crash loop takes the container down
 * (critical); a kernel OOM kill of a child process, pull/config errors and evictions are
 * warnings.
 */
export function severityOf(signal: Signal, evidence: Evidence, thresholds: SeverityThresholds): Severity {
  switch (signal) {
    case "CPUThrottling":
      return throttlingSeverity(evidence.throttling?.ratio ?? 0, thresholds);
    case "MemoryPressure":
      return evidence.memory ? memorySeverity(evidence.memory, thresholds) : "info";
    case "OOMKilled":
      return evidence.oom?.mainProcessSurvived ? "warning" : "critical";
    case "CrashLoopBackOff":
      return "critical";
    default:
      return "warning";
  }
}
