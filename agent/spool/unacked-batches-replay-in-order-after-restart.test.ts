import { afterEach, expect, it } from "vitest";
import { decodeEnvelope } from "../../shared/proto.ts";
import { failureEvent } from "../link/testing/memory-outbox.ts";
import { buildBatch } from "../link/unacked.ts";
import { openTestSpool, spoolDir } from "./testing.ts";

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function batch(seq: number, n = 3) {
  const events = Array.from({ length: n }, (_, i) => failureEvent(seq * 100 + i, "node-a"));
  return { events, frame: buildBatch(seq, events, 1_767_225_600_000).frame };
}

it("a restarted agent gets back its unacknowledged batches, oldest first, byte for byte, under the same instance id", async () => {
  const tmp = spoolDir();
  dirs.push(tmp);
  const first = openTestSpool(tmp.dir);
  const frames = new Map<number, Uint8Array>();
  for (let seq = 1; seq <= 6; seq++) {
    const b = batch(seq);
    frames.set(seq, b.frame);
    first.spool.append(seq, b.frame, b.events);
  }
  first.spool.settle(2);
  first.spool.settle(5);
  // No close(): as after a SIGKILL, the settle records were written but never fsync'd.
  expect(await first.metric("kernel_gossip_agent_spool_fsyncs_total")).toBeGreaterThanOrEqual(6);

  const second = openTestSpool(tmp.dir);
  expect(second.spool.instanceId).toBe(first.spool.instanceId);
  expect(second.spool.recovered.map((b) => b.seq)).toEqual([1, 3, 4, 6]);
  for (const b of second.spool.recovered)
    expect(Buffer.from(b.frame).equals(Buffer.from(frames.get(b.seq) as Uint8Array))).toBe(true);
  expect(second.spool.nextSeq).toBe(7);
  expect(await second.metric("kernel_gossip_agent_spool_replayed_batches_total")).toBe(4);
  expect(second.lines.find((l) => String(l.msg).startsWith("spool replayed"))).toMatchObject({
    batches: 4,
    events: 12,
  });
  // What the batches reported is remembered: the failure ids come back as already reported.
  expect([...second.spool.memory.reportedIds()]).toContain(failureEvent(201, "node-a").id);

  second.spool.settle(1);
  second.spool.close();
  const third = openTestSpool(tmp.dir);
  expect(third.spool.recovered.map((b) => b.seq)).toEqual([3, 4, 6]);
  expect(decodeEnvelope(third.spool.recovered[0]?.frame as Uint8Array).batch?.events?.length).toBe(3);
  third.spool.close();
});

it("keeps the newest batches within SPOOL_MAX_BYTES, evicting the oldest with a count", async () => {
  const tmp = spoolDir();
  dirs.push(tmp);
  const batches = Array.from({ length: 8 }, (_, i) => batch(i + 1, 20));
  const max = batches.slice(5).reduce((n, b) => n + b.frame.length, 0);
  const first = openTestSpool(tmp.dir, max);
  for (const [i, b] of batches.entries()) first.spool.append(i + 1, b.frame, b.events);
  expect(await first.metric("kernel_gossip_agent_spool_evicted_batches_total")).toBe(5);
  expect(await first.metric("kernel_gossip_agent_spool_batches")).toBe(3);
  expect(first.lines.some((l) => String(l.msg).includes("spool full"))).toBe(true);
  const second = openTestSpool(tmp.dir, max);
  expect(second.spool.recovered.map((b) => b.seq)).toEqual([6, 7, 8]);
  second.spool.close();
});
