// Options of `kernel-gossip aggregator` for what the batch pipeline holds in memory
// (aggregator/pipeline): remembered event ids (redeliveries) and the writer's pending objects.
import type { OptionSpecs } from "../../shared/options.ts";

export const PIPELINE_OPTIONS = {
  redeliveryCacheBytes: {
    type: "int",
    env: "REDELIVERY_CACHE_BYTES",
    default: "33554432",
    min: 65_536,
    help: "Bytes the remembered event ids may take (each id's length plus 64 bytes of bookkeeping); the least recently used go first.",
  },
  maxPendingObjects: {
    type: "int",
    env: "MAX_PENDING_OBJECTS",
    default: "50000",
    min: 10,
    help: "Objects the writer holds (waiting to be written, or idle and remembered); when full, idle ones are forgotten first, then changes for new objects are shed: their events are acknowledged and counted in events_dropped_total{reason=shed}.",
  },
  redeliveryCacheSize: {
    type: "int",
    env: "REDELIVERY_CACHE_SIZE",
    default: "200000",
    min: 1,
    help: "Event ids remembered to drop redeliveries.",
  },
} as const satisfies OptionSpecs;
