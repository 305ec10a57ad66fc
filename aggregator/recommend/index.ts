// Severity and recommendation for every signal.
export { recommendCpu } from "./cpu.ts";
export { exitMeaning, recommendTermination } from "./crash.ts";
export { HpaLookup, type HpaSource } from "./hpa.ts";
export { recommendMemory, recommendMemoryPressure } from "./memory.ts";
export { formatCpu, formatMemory, percentile } from "./quantity.ts";
export { type RecommendationInput, recommendationOf } from "./recommendation.ts";
export {
  DEFAULT_THRESHOLDS,
  type SeverityThresholds,
  severityOf,
  throttlingSeverity,
} from "./severity.ts";
