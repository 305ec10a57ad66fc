// Severity of a whisper: one source of truth for every signal. Throttling thresholds come
// from the aggregator's --throttle-warning / --throttle-critical.
import type { Evidence, Severity, Signal } from "../types/index.ts";

export interface SeverityThresholds {
  /** Throttled ratio above which throttling is a warning (default 0.5). */
  warning: number;
  /** Throttled ratio above which throttling is critical (default 0.8). */
  critical: number;
}

export const DEFAULT_THRESHOLDS: SeverityThresholds = { warning: 0.5, critical: 0.8 };

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
    case "OOMKilled":
      return evidence.oom?.mainProcessSurvived ? "warning" : "critical";
    case "CrashLoopBackOff":
      return "critical";
    default:
      return "warning";
  }
}
