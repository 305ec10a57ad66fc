// What the link does with what is left when it stops: with a spool, everything still queued
// goes into it as batches and every unacknowledged batch stays there, resent after the
// restart; without one, it is counted as dropped (cause "shutdown"). One line says which, and
// whether events were dropped earlier (queue overflow, refused batches), so "every event was
// delivered" is said only when nothing was lost before or at shutdown.
import type { Logger } from "../../shared/log.ts";
import { eventType, type WireEvent } from "../../shared/proto.ts";
import type { LinkMetrics } from "./metrics.ts";
import type { BatchJournal, OutboxPort } from "./ports.ts";
import type { DeliveryWindow } from "./unacked.ts";

export interface StopReport {
  delivered: number;
  /** Events not acknowledged at shutdown (kept in the spool when there is one). */
  undelivered: number;
  /** Events dropped while running (queue overflow, refused batches). */
  droppedEarlier: number;
  /** Set when the undelivered events are kept in the spool. */
  spooled?: number;
}

export async function settleAtShutdown(deps: {
  unacked: DeliveryWindow;
  outbox: OutboxPort;
  journal: BatchJournal | undefined;
  maxBatchEvents: number;
  metrics: LinkMetrics;
  log: Logger;
}): Promise<StopReport> {
  const { unacked, outbox, journal, metrics, log } = deps;
  let queued: WireEvent[] = [];
  if (journal) {
    // Everything still queued goes into the spool as batches, resent after the restart.
    for (;;) {
      const events = outbox.take(deps.maxBatchEvents);
      if (events.length === 0) break;
      unacked.open(events);
    }
  } else queued = outbox.take(Number.MAX_SAFE_INTEGER);
  const left = [...unacked.inOrder()];
  for (const batch of left) unacked.drop(batch, "shutdown");
  for (const event of queued) metrics.eventsDropped.inc({ type: eventType(event), cause: "shutdown" });
  const undelivered = left.reduce((n, b) => n + b.events, 0) + queued.length;
  const droppedTotal = (await metrics.eventsDropped.get()).values.reduce((n, v) => n + v.value, 0);
  const droppedEarlier = Math.max(0, droppedTotal - undelivered);
  const summary = {
    delivered: unacked.delivered,
    undelivered,
    droppedEarlier,
    unackedBatches: left.length,
    queued: queued.length,
  };
  if (undelivered > 0 && journal) {
    log.info(
      { ...summary, spool: journal.file },
      `link stopped with ${undelivered} events not yet acknowledged; they are kept in the spool (${left.length} batches) and resent after restart`,
    );
    return { delivered: unacked.delivered, undelivered, droppedEarlier, spooled: undelivered };
  }
  if (undelivered > 0) {
    log.warn(
      summary,
      `link stopped with ${undelivered} events not delivered (${left.length} unacked batches, ${queued.length} queued events); they are lost unless the detectors see them again after restart`,
    );
  } else if (droppedEarlier > 0) {
    log.warn(
      summary,
      `link stopped; everything queued at shutdown was delivered, but ${droppedEarlier} events were dropped earlier (kernel_gossip_agent_events_dropped_total says why)`,
    );
  } else log.info(summary, "link stopped; every event was delivered");
  return { delivered: unacked.delivered, undelivered, droppedEarlier };
}
