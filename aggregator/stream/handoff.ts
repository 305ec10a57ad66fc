// An accepted batch, handed from its connection to the pipeline: counted, named by its
// context (node, connection, agent process, sequence number) and passed on. The connection
// does this for every batch frame; bench/ingest calls it the same way, so the ingest figure
// is this code's.
import { eventType } from "../../shared/proto.ts";
import type { DecodedEvent } from "./frame-handler.ts";
import type { StreamMetrics } from "./metrics.ts";
import type { ConnectionInfo, StreamBatchContext, StreamBatchHandler } from "./types.ts";

export interface HandedOver {
  ctx: StreamBatchContext;
  /** The pipeline's answer; a handler that throws is a rejected promise here. */
  handled: Promise<{ dropped: number }>;
}

export function handOver(
  handler: StreamBatchHandler,
  metrics: Pick<StreamMetrics, "framesReceived" | "eventsReceived">,
  info: ConnectionInfo,
  seq: number,
  events: DecodedEvent[],
): HandedOver {
  metrics.framesReceived.inc({ type: "batch" });
  countByType(metrics.eventsReceived, events);
  const ctx: StreamBatchContext = {
    node: info.node ?? "",
    connectionId: info.id,
    agentVersion: info.agentVersion ?? "",
    instance: info.instance ?? "",
    seq,
  };
  let handled: Promise<{ dropped: number }>;
  try {
    handled = handler.handleBatch(ctx, events);
  } catch (err) {
    handled = Promise.reject(err);
  }
  return { ctx, handled };
}

/** One increment per event type present, not one per event (a labelled inc hashes its labels). */
function countByType(counter: StreamMetrics["eventsReceived"], events: readonly DecodedEvent[]): void {
  let failure = 0;
  let oom = 0;
  let throttle = 0;
  let memory = 0;
  let birth = 0;
  let unknown = 0;
  for (let i = 0; i < events.length; i++) {
    switch (eventType(events[i] as DecodedEvent)) {
      case "failure":
        failure++;
        break;
      case "oom":
        oom++;
        break;
      case "throttle":
        throttle++;
        break;
      case "memory":
        memory++;
        break;
      case "birth":
        birth++;
        break;
      default:
        unknown++;
    }
  }
  if (failure > 0) counter.inc({ type: "failure" }, failure);
  if (oom > 0) counter.inc({ type: "oom" }, oom);
  if (throttle > 0) counter.inc({ type: "throttle" }, throttle);
  if (memory > 0) counter.inc({ type: "memory" }, memory);
  if (birth > 0) counter.inc({ type: "birth" }, birth);
  if (unknown > 0) counter.inc({ type: "unknown" }, unknown);
}
