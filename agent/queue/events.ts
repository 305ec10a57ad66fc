// The reason label of wire events in the agent's queue metrics (their type label is
// shared/proto.ts eventType, the same on both sides).
import type { WireEvent } from "../../shared/proto.ts";

/** Bounded-cardinality reason label. */
export function reasonOf(event: WireEvent): string {
  if (event.failure) return event.failure.reason || "Unknown";
  if (event.oom) return "OOMKilled";
  if (event.throttle) return "CPUThrottling";
  if (event.memory) return "MemoryPressure";
  return event.birth?.ready ? "Ready" : "FailedToStart";
}
