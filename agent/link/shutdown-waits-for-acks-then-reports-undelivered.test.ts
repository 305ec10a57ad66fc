import { Writable } from "node:stream";
import { afterEach, expect, it } from "vitest";
import { ManualClock, systemClock } from "../../shared/clock.ts";
import { createLogger } from "../../shared/log.ts";
import { testLink } from "./testing/harness.ts";
import { failureEvent } from "./testing/memory-outbox.ts";
import { startScriptedAggregator } from "./testing/scripted-aggregator.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger({ level: "info", destination }), lines };
}

it("stop() flushes the queue and returns once the aggregator acked everything", async () => {
  const agg = await startScriptedAggregator({
    onFrame: (ws, frame, self) => {
      if (frame.batch) setTimeout(() => self.send(ws, { ack: { seq: frame.batch?.seq ?? 0 } }), 20);
    },
  });
  cleanup.push(() => agg.close());
  const { link, outbox, metric } = testLink({
    url: agg.url,
    clock: systemClock,
    settings: { maxBatchEvents: 10 },
  });
  link.start();
  await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);
  for (let i = 0; i < 45; i++) outbox.push(failureEvent(i, "node-a"));
  const result = await link.stop(10_000);
  expect(result).toEqual({ delivered: 45, undelivered: 0, droppedEarlier: 0 });
  expect(outbox.size).toBe(0);
  expect(await metric("kernel_gossip_agent_events_dropped_total")).toBe(0);
  expect(link.connected()).toBe(false);
});

it("stop() gives up at the deadline and says how many events were not delivered", async () => {
  const agg = await startScriptedAggregator({
    onFrame: (ws, frame, self) => {
      if (frame.batch?.seq === 1) self.send(ws, { ack: { seq: 1 } }); // then nothing more is ever acked
    },
  });
  cleanup.push(() => agg.close());
  const clock = new ManualClock();
  const { log, lines } = captureLog();
  const { link, outbox, metric } = testLink({
    url: agg.url,
    clock,
    log,
    settings: { maxBatchEvents: 10, maxUnackedBatches: 2 },
  });
  link.start();
  await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);
  for (let i = 0; i < 50; i++) outbox.push(failureEvent(i, "node-a"));
  await expect
    .poll(() => agg.frames.filter((f) => f.batch).length === 3, { message: "three batches sent" })
    .toBe(true);
  const stopped = link.stop(5_000);
  clock.advance(5_000);
  const result = await stopped;
  // 10 acked; 20 in the two unacked batches; 20 never left the queue
  expect(result).toEqual({ delivered: 10, undelivered: 40, droppedEarlier: 0 });
  expect(
    await metric("kernel_gossip_agent_events_dropped_total", { cause: "shutdown", type: "failure" }),
  ).toBe(40);
  await expect
    .poll(() => lines.some((l) => String(l.msg).includes("40 events not delivered")), {
      message: "the shutdown log line",
    })
    .toBe(true);
  const line = lines.find((l) => String(l.msg).includes("40 events not delivered"));
  expect(line).toMatchObject({ level: "warn", undelivered: 40, unackedBatches: 2, queued: 20 });
  const audit = lines.filter((l) => l.audit === "delivered");
  expect(audit).toHaveLength(10);
  expect(audit[0]).toMatchObject({
    id: "uid-0/app/0/CrashLoopBackOff",
    sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    count: 1,
  });
});

it("stop() while waiting out a reconnect backoff reconnects at once and delivers before the deadline", async () => {
  const agg = await startScriptedAggregator({
    onFrame: (ws, frame, self) => {
      if (frame.batch) self.send(ws, { ack: { seq: frame.batch.seq ?? 0 } });
    },
  });
  cleanup.push(() => agg.close());
  const clock = new ManualClock();
  const { link, outbox } = testLink({ url: agg.url, clock });
  link.start();
  await expect.poll(() => link.connected(), { message: "connected" }).toBe(true);
  for (const ws of agg.sockets) ws.terminate(); // the aggregator drops us; backoff starts
  await expect.poll(() => !link.connected(), { message: "link down" }).toBe(true);
  for (let i = 0; i < 5; i++) outbox.push(failureEvent(i, "node-a"));
  const stopped = link.stop(10_000);
  await expect
    .poll(() => agg.frames.some((f) => f.batch), { message: "batch sent on the fresh connection" })
    .toBe(true);
  expect(await stopped).toEqual({ delivered: 5, undelivered: 0, droppedEarlier: 0 });
});
