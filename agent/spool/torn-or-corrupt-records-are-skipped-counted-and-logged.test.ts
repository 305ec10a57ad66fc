import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { afterEach, expect, it } from "vitest";
import { failureEvent } from "../link/testing/memory-outbox.ts";
import { buildBatch } from "../link/unacked.ts";
import { SEQ_JUMP_AFTER_DAMAGE } from "./index.ts";
import { openTestSpool, spoolDir } from "./testing.ts";

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function fill(dir: string, batches: number) {
  const { spool, file } = openTestSpool(dir);
  const offsets: number[] = [];
  for (let seq = 1; seq <= batches; seq++) {
    offsets.push(readFileSync(file).length);
    const events = Array.from({ length: 4 }, (_, i) => failureEvent(seq * 10 + i, "node-a"));
    spool.append(seq, buildBatch(seq, events, 1_767_225_600_000).frame, events);
  }
  spool.close();
  return { file, offsets };
}

it("a record cut short at the end of the file (crash mid-write) is skipped, counted as torn and logged; the rest is replayed", async () => {
  const tmp = spoolDir();
  dirs.push(tmp);
  const { file } = fill(tmp.dir, 5);
  const size = readFileSync(file).length;
  truncateSync(file, size - 7);

  const { spool, lines, metric } = openTestSpool(tmp.dir);
  expect(spool.recovered.map((b) => b.seq)).toEqual([1, 2, 3, 4]);
  expect(await metric("kernel_gossip_agent_spool_damaged_records_total", { kind: "torn" })).toBe(1);
  const line = lines.find((l) => String(l.msg).includes("cut short"));
  expect(line).toMatchObject({ level: "warn", file, kind: "torn" });
  // Sequence numbers never name a lost batch again.
  expect(spool.nextSeq).toBe(5 + SEQ_JUMP_AFTER_DAMAGE);
  spool.close();
});

it("a flipped byte inside a record fails its checksum: that batch is skipped, counted and logged, the ones after it are replayed", async () => {
  const tmp = spoolDir();
  dirs.push(tmp);
  const { file, offsets } = fill(tmp.dir, 5);
  const data = readFileSync(file);
  const at = (offsets[2] as number) + 40; // inside batch 3's frame
  data[at] = (data[at] as number) ^ 0x10;
  writeFileSync(file, data);

  const { spool, lines, metric } = openTestSpool(tmp.dir);
  expect(spool.recovered.map((b) => b.seq)).toEqual([1, 2, 4, 5]);
  expect(await metric("kernel_gossip_agent_spool_damaged_records_total", { kind: "corrupt" })).toBe(1);
  expect(lines.find((l) => String(l.msg).includes("unreadable bytes"))).toMatchObject({
    file,
    offset: offsets[2],
    kind: "corrupt",
  });
  expect(spool.nextSeq).toBe(6 + SEQ_JUMP_AFTER_DAMAGE);
  spool.close();
  // The start-up compaction rewrote the file without the damage: the next start finds none.
  const again = openTestSpool(tmp.dir);
  expect(again.spool.recovered.map((b) => b.seq)).toEqual([1, 2, 4, 5]);
  expect(await again.metric("kernel_gossip_agent_spool_damaged_records_total")).toBe(0);
  again.spool.close();
});
