import { afterEach, expect, it } from "vitest";
import { systemClock } from "../../shared/clock.ts";
import { openTestSpool, spoolDir } from "../spool/testing.ts";
import { testLink } from "./testing/harness.ts";
import { failureEvent } from "./testing/memory-outbox.ts";
import { startScriptedAggregator } from "./testing/scripted-aggregator.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

it("batches unacknowledged at shutdown — sent or still queued — are resent by the next agent process under the same instance id and sequence numbers", async () => {
  const tmp = spoolDir();
  cleanup.push(() => tmp.remove());
  let acking = false;
  const agg = await startScriptedAggregator({
    onFrame: (ws, frame, self) => {
      if (frame.batch && acking) self.send(ws, { ack: { seq: frame.batch.seq ?? 0 } });
    },
  });
  cleanup.push(() => agg.close());

  // First process: the aggregator never acks; 30 events go out as batches 1-3 (window of 3),
  // 10 more stay queued until stop() puts them in the spool as batch 4.
  const first = openTestSpool(tmp.dir);
  const one = testLink({
    url: agg.url,
    clock: systemClock,
    journal: first.spool,
    settings: { maxBatchEvents: 10, maxUnackedBatches: 3 },
  });
  one.link.start();
  await expect.poll(() => one.link.connected(), { message: "connected" }).toBe(true);
  for (let i = 0; i < 40; i++) one.outbox.push(failureEvent(i, "node-a"));
  await expect
    .poll(() => agg.frames.filter((f) => f.batch).length === 3, { message: "three batches sent" })
    .toBe(true);
  expect(await one.link.stop(0)).toEqual({ delivered: 0, undelivered: 40, droppedEarlier: 0, spooled: 40 });
  expect(await one.metric("kernel_gossip_agent_events_dropped_total")).toBe(0);
  first.spool.close();
  const firstHello = agg.frames.find((f) => f.hello)?.hello;

  // Second process on the same spool; this time the aggregator acks.
  agg.frames.length = 0;
  acking = true;
  const second = openTestSpool(tmp.dir);
  const two = testLink({
    url: agg.url,
    clock: systemClock,
    journal: second.spool,
    settings: { maxBatchEvents: 10 },
  });
  two.link.start();
  await expect.poll(() => two.link.connected(), { message: "reconnected" }).toBe(true);
  two.outbox.push(failureEvent(99, "node-a"));
  await expect
    .poll(() => agg.frames.filter((f) => f.batch).length === 5, { message: "replayed and new batches" })
    .toBe(true);
  const hello = agg.frames.find((f) => f.hello)?.hello;
  expect(hello?.instanceId).toBe(firstHello?.instanceId);
  const batches = agg.frames.filter((f) => f.batch).map((f) => f.batch);
  expect(batches.map((b) => Number(b?.seq))).toEqual([1, 2, 3, 4, 5]);
  const ids = batches.slice(0, 4).flatMap((b) => (b?.events ?? []).map((e) => e.id));
  expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => failureEvent(i, "node-a").id));
  expect(batches[4]?.events?.[0]?.id).toBe(failureEvent(99, "node-a").id);
  expect(await two.link.stop(5_000)).toEqual({ delivered: 41, undelivered: 0, droppedEarlier: 0 });
  expect(await second.metric("kernel_gossip_agent_spool_batches")).toBe(0);
  second.spool.close();
  // Everything acknowledged: a third process has nothing to resend.
  const third = openTestSpool(tmp.dir);
  expect(third.spool.recovered).toEqual([]);
  expect(third.spool.nextSeq).toBe(6);
  third.spool.close();
});
