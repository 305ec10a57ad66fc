// The spool's PENDING record (pending.ts): what dedup holds and the outbox queues survives a
// crash, is put back with what is left of its window, is remembered as reported (the restarted
// detectors do not report it again), and is never counted twice with a batch written after it.
import { readFileSync, writeFileSync } from "node:fs";
import { afterEach, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { createDedup } from "../delivery.ts";
import { failureEvent } from "../link/testing/memory-outbox.ts";
import { buildBatch } from "../link/unacked.ts";
import { createQueueMetrics } from "../queue/metrics.ts";
import { testAgentOptions } from "../testing.ts";
import { MAGIC } from "./record.ts";
import { openTestSpool, spoolDir } from "./testing.ts";

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

/** Dedup with a 10 s cooldown on a manual clock, forwarding into `out`. */
function dedup(clock: ManualClock, out: WireEvent[]) {
  return createDedup(testAgentOptions({ dedupCooldown: 10_000, dedupMaxKeys: 100 }), {
    next: { emit: (e) => void out.push(e) },
    clock,
    metrics: createQueueMetrics(createRegistry({ defaultMetrics: false })),
  });
}

/** Restart n of one crash-looping container (one dedup key). */
const restart = (n: number) => failureEvent(1, "node-a", { id: `uid-1/app/${n}/CrashLoopBackOff` });
const queuedEvent = failureEvent(2, "node-a", { id: "uid-2/app/0/OOMKilled" });

it("held counts and queued events written once per change come back after a crash: the count leaves when its window ends, once, and the restarted detectors take them as reported", async () => {
  const tmp = spoolDir();
  dirs.push(tmp);
  const clock = new ManualClock();
  const sent: WireEvent[] = [];
  const before = dedup(clock, sent);
  const first = openTestSpool(tmp.dir);
  first.spool.keepPending(() => ({ held: before.heldCounts(), queued: [queuedEvent] }));
  before.emit(restart(1)); // passes, opens the window
  clock.advance(1_000);
  before.emit(restart(2));
  before.emit(restart(3)); // held: 2
  expect(first.spool.persistPending()).toBe(true);
  const fsyncs = await first.metric("kernel_gossip_agent_spool_fsyncs_total");
  expect(first.spool.persistPending()).toBe(false); // nothing changed: nothing written
  expect(await first.metric("kernel_gossip_agent_spool_fsyncs_total")).toBe(fsyncs);
  // SIGKILL: no close(). Four seconds later the agent starts again.
  clock.advance(4_000);
  const second = openTestSpool(tmp.dir);
  expect(second.spool.pending.held.map((h) => [h.event.id, h.held])).toEqual([
    ["uid-1/app/3/CrashLoopBackOff", 2],
  ]);
  expect(second.spool.pending.queued.map((e) => e.id)).toEqual(["uid-2/app/0/OOMKilled"]);
  expect([...second.spool.memory.reportedIds()]).toEqual(
    expect.arrayContaining(["uid-1/app/3/CrashLoopBackOff", "uid-2/app/0/OOMKilled"]),
  );
  expect(second.spool.memory.waitingIndexes().get("uid-1/app/CrashLoopBackOff")).toBe(3);
  expect(second.lines.find((l) => String(l.msg).includes("spool replayed"))).toMatchObject({
    heldCounts: 1,
    heldOccurrences: 2,
    queued: 1,
  });

  const after: WireEvent[] = [];
  const restored = dedup(clock, after);
  for (const h of second.spool.pending.held) restored.restore(h);
  expect(restored.held).toBe(2);
  clock.advance(4_999); // the original window ends 10 s after restart 1: 5 s from now
  expect(after).toEqual([]);
  clock.advance(1);
  expect(after.map((e) => [e.id, e.count])).toEqual([["uid-1/app/3/CrashLoopBackOff", 2]]);
  expect(restored.held).toBe(0);
  restored.stop();
  before.stop();
  second.spool.close();
});

it("a PENDING record that is damaged is skipped and counted; the older one it replaced gives up the keys a later batch carries, so nothing is counted twice", async () => {
  const tmp = spoolDir();
  dirs.push(tmp);
  let state = {
    held: [{ event: restart(3), held: 2, endsAtMs: 1_767_225_610_000 }],
    queued: [] as WireEvent[],
  };
  const { spool, file } = openTestSpool(tmp.dir);
  spool.keepPending(() => state);
  spool.persistPending();
  // The window ended: the count left in batch 1, written with the (now empty) PENDING record.
  state = { held: [], queued: [] };
  const released = { ...restart(3), count: 2 };
  const at = readFileSync(file).length;
  spool.append(1, buildBatch(1, [released], 1_767_225_600_000).frame, [released]);
  const data = readFileSync(file);
  const pendingAt = data.indexOf(MAGIC, at + 1); // the PENDING record after batch 1
  expect(pendingAt).toBeGreaterThan(at);
  data[pendingAt + 9] = (data[pendingAt + 9] as number) ^ 0x01; // its checksum no longer matches
  writeFileSync(file, data);

  const again = openTestSpool(tmp.dir);
  expect(await again.metric("kernel_gossip_agent_spool_damaged_records_total", { kind: "torn" })).toBe(1);
  expect(again.spool.recovered.map((b) => b.seq)).toEqual([1]); // the count goes with batch 1
  expect(again.spool.pending.held).toEqual([]); // and not a second time from the older record
  again.spool.close();
});
