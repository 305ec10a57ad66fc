// The `type` label of an event: which oneof member it carries.
import type { WireEvent } from "../../shared/proto.ts";

export type EventType = "failure" | "oom" | "throttle" | "birth" | "unknown";

export function eventType(event: WireEvent): EventType {
  if (event.failure) return "failure";
  if (event.oom) return "oom";
  if (event.throttle) return "throttle";
  if (event.birth) return "birth";
  return "unknown";
}
