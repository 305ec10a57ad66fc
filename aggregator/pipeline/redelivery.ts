// The pipeline's event-id redelivery dedup: which of a batch's events this replica already
// wrote, is writing, or sees for the first time.
//
// Redelivery is caught in two layers: (1) the object's delivery ledger (emit/ledger.ts) — a
// batch of an agent that names its process is recorded in each whisper together with the
// counts, so a resend after a crash, restart or failover is recognised by whatever replica gets
// it; (2) here, for all agents: an event id enters the bounded LRU only after its write
// succeeded, so an event whose write never happened is not mistaken for a redelivery; an id
// already being processed (the agent resent the batch meanwhile) waits for that processing and
// is then dropped as a redelivery. A throttle sample that names its episode (not its
// resolution) skips both: folded again it counts nothing twice (ADR 0011), so its id is not kept.
import { LRUCache } from "lru-cache";
import type { WireEvent } from "../../shared/proto.ts";
import type { PipelineMetrics } from "./metrics.ts";
import type { PendingBatch } from "./pending-batch.ts";
import { foldsByEpisode } from "./throttle-facts.ts";
import type { Fresh } from "./types.ts";

/** Bookkeeping bytes counted per remembered event id on top of its length (LRU node, map entry). */
const ID_OVERHEAD_BYTES = 64;
/** See RedeliveryDedup.#isDone. */
const HAS_OPTIONS: LRUCache.HasOptions<string, true, unknown> = { status: undefined };

export interface RedeliveryDedupOptions {
  /** --redelivery-cache-size: how many written event ids are remembered. */
  size: number;
  /** --redelivery-cache-bytes: how many bytes they may take. */
  bytes: number;
  metrics: Pick<PipelineMetrics, "redelivery" | "redeliveriesDropped">;
}

export class RedeliveryDedup {
  #metrics: RedeliveryDedupOptions["metrics"];
  /** Ids whose write succeeded (bounded LRU: at most #max of them, and options.bytes). */
  #done: LRUCache<string, true>;
  #max: number;
  /** Event id → the batch processing it (resends wait for it). */
  #inflight = new Map<string, PendingBatch>();

  constructor(options: RedeliveryDedupOptions) {
    const { metrics } = options;
    this.#metrics = metrics;
    // Bounded by count and by bytes: ids are short from real agents, but the bound must not
    // depend on it (ids of up to EVENT_LIMITS.idChars pass the edge). The count is kept by
    // evicting after each set (settled), not by lru-cache's `max`, which allocates its slot
    // arrays for all 200,000 entries up front (~7 MiB before the first id).
    this.#max = options.size;
    this.#done = new LRUCache({
      maxSize: options.bytes,
      sizeCalculation: (_value, id) => id.length + ID_OVERHEAD_BYTES,
    });
    metrics.redelivery.bytes = () => this.#done.calculatedSize;
  }

  /**
   * The batch's events this batch processes first. A redelivery of a written event, or the same
   * id twice in the batch, is counted as a dropped redelivery; an event an earlier batch is still
   * processing makes `batch` follow it. Each fresh id enters the in-flight map for `batch`.
   */
  fresh(batch: PendingBatch, events: WireEvent[]): Fresh[] {
    const metrics = this.#metrics;
    // Allocated at the batch's size (most events are fresh), trimmed below.
    const fresh: Fresh[] = new Array(events.length);
    let n = 0;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i] as WireEvent;
      // A named episode's sample folds again harmlessly: its id is not kept (ADR 0011).
      const id = foldsByEpisode(ev) ? "" : (ev.id ?? "");
      if (id && this.#isDone(id)) {
        metrics.redeliveriesDropped.inc();
        batch.dropped++;
        continue;
      }
      const running = id ? this.#inflight.get(id) : undefined;
      if (running === batch) {
        // The same id twice in one batch: the first one stands for both.
        metrics.redeliveriesDropped.inc();
        batch.dropped++;
        continue;
      }
      if (running) {
        // The agent resent the batch while this replica is still writing it: wait, then drop.
        running.follow(batch, 1);
        continue;
      }
      if (id) {
        this.#inflight.set(id, batch);
        fresh[n++] = { ev, id: batch.ids.push(id) - 1 };
      } else fresh[n++] = { ev, id: -1 };
    }
    fresh.length = n;
    return fresh;
  }

  /** The batch settled: its ids leave the in-flight map, remembered as done on success. */
  settled = (batch: PendingBatch, err: unknown): void => {
    for (const id of batch.ids) {
      if (!id || this.#inflight.get(id) !== batch) continue;
      this.#inflight.delete(id);
      if (err === undefined) this.#done.set(id, true);
    }
    while (this.#done.size > this.#max) this.#done.pop();
  };

  /** An event that will not reach an object leaves the in-flight map (not remembered as done). */
  forget = (batch: PendingBatch, f: Fresh): void => {
    if (f.id < 0) return;
    const id = batch.ids[f.id] as string;
    if (this.#inflight.get(id) === batch) this.#inflight.delete(id);
    batch.ids[f.id] = "";
  };

  /**
   * `#done.has(id)` without the options object lru-cache allocates per call when given none
   * (one per event): the same one each time, its status cleared (set only for diagnostics
   * channel subscribers, which get a fresh one then as without it).
   */
  #isDone(id: string): boolean {
    HAS_OPTIONS.status = undefined;
    return this.#done.has(id, HAS_OPTIONS);
  }
}
