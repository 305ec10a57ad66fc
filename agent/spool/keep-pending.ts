// Keeping what dedup holds and the outbox queues in the spool (ADR 0013, "Held and queued
// counts"): put back at start, then written with every batch and once per flush interval.
import type { Clock } from "../../shared/clock.ts";
import type { Deduplicator } from "../queue/dedup.ts";
import type { Outbox } from "../queue/outbox.ts";
import type { Spool } from "./index.ts";
import { keptWhileQueued } from "./pending.ts";

/**
 * Puts back what the previous process held in dedup and queued in the outbox (before any
 * detector reports: the restarted detectors take those ids and counter values as reported),
 * then keeps it in the spool: with every batch appended, and once per flush interval when it
 * changed (ADR 0013, "Held and queued counts"). Returns the stop of the interval.
 */
export function keepPending(
  spool: Spool,
  dedup: Deduplicator,
  outbox: Outbox,
  clock: Clock,
  intervalMs: () => number,
): () => void {
  for (const held of spool.pending.held) dedup.restore(held);
  for (const event of spool.pending.queued) outbox.push(event);
  spool.keepPending(() => ({ held: dedup.heldCounts(), queued: outbox.queued(keptWhileQueued) }));
  let timer: ReturnType<Clock["setTimeout"]> | undefined;
  const tick = (): void => {
    spool.persistPending();
    timer = clock.setTimeout(tick, intervalMs());
    (timer as { unref?: () => void }).unref?.();
  };
  timer = clock.setTimeout(tick, intervalMs());
  (timer as { unref?: () => void }).unref?.();
  return () => {
    if (timer) clock.clearTimeout(timer);
    timer = undefined;
  };
}
