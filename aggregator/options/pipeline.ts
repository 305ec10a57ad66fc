// Options of `kernel-gossip aggregator` for what the batch pipeline holds in memory
// (aggregator/pipeline): remembered event ids (redeliveries) and the writer's pending objects and bytes.
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
    help: "Objects the writer holds (waiting to be written, or idle and remembered); when full, idle ones are forgotten first, then the oldest waiting ones of the node holding the most bytes (or the new change, when its node holds the most) are shed: their events are acknowledged and counted in events_dropped_total{reason=shed}.",
  },
  maxPendingBytes: {
    type: "int",
    env: "MAX_PENDING_BYTES",
    default: "134217728",
    min: 1_048_576,
    help: "Bytes the writer's objects may hold: documents, delivery ledgers, the batches waiting on them and their ids, as estimated (within 1.5x of the heap they take; gauge pending_bytes). Above 70% the stream stops reading from the agents with more than their share of unacknowledged batches (they keep them and send later: nothing is lost, events arrive late; gauge connections_paused{reason=pending_bytes}) until under 50%. Only if it still goes over: idle objects are forgotten first, then the node holding the most bytes loses its oldest waiting objects until 90% is left: their events are acknowledged and counted in events_dropped_total{reason=shed_bytes}. About 5 KB per waiting crash loop, 2.6 KB per further batch on it: the default holds ~26,000 waiting crash loops and keeps a flooded aggregator near 400 MiB RSS (bench fuzz).",
  },
  redeliveryCacheSize: {
    type: "int",
    env: "REDELIVERY_CACHE_SIZE",
    default: "200000",
    min: 1,
    help: "Event ids remembered to drop redeliveries (not those of CPU throttling samples that name their episode: they count once by it, ADR 0011).",
  },
} as const satisfies OptionSpecs;
