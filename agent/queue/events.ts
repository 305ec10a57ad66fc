// Classifying wire events for metrics, dedup keys and the overflow policy.
import type { WireEvent } from "../../shared/proto.ts";
import type { EventType } from "./metrics.ts";

export function typeOf(event: WireEvent): EventType {
  if (event.failure) return "failure";
  if (event.oom) return "oom";
  if (event.throttle) return "throttle";
  if (event.memory) return "memory";
  return "birth";
}

/** Bounded-cardinality reason label. */
export function reasonOf(event: WireEvent): string {
  if (event.failure) return event.failure.reason || "Unknown";
  if (event.oom) return "OOMKilled";
  if (event.throttle) return "CPUThrottling";
  if (event.memory) return "MemoryPressure";
  return event.birth?.ready ? "Ready" : "FailedToStart";
}
