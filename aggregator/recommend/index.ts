// Severity and recommendation for every signal.
export { type CpuInput, type CpuPolicy, confidenceOf, DEFAULT_CPU_POLICY, recommendCpu } from "./cpu.ts";
export { exitMeaning, recommendTermination } from "./crash.ts";
export { HpaLookup, type HpaLookupOptions, type HpaSource } from "./hpa.ts";
export { recommendMemory, recommendMemoryPressure } from "./memory.ts";
export { formatCpu, formatMemory, percentile } from "./quantity.ts";
export {
  DEFAULT_THRESHOLDS,
  memorySeverity,
  type SeverityThresholds,
  severityOf,
  throttlingSeverity,
} from "./severity.ts";
