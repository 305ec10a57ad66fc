// The journal's data (format.ts): what is written reads back the same, an entry costs ~30 bytes
// once its agent, whisper and pods are in the journal, the estimate that bounds the journal is
// never below what an entry really adds, and what cannot be read is counted, not replayed.
import { expect, it } from "vitest";
import { decodeJournal, encodeJournal, estimateBytes, type JournalRecord } from "./format.ts";

/** Marks as a replica gives them: one more per journaled change, from the clock at its start. */
let lastMark = 1_765_000_000_000_000;

function record(
  agent: number,
  seq: number,
  whisper: number,
  pods: number[],
  mark = ++lastMark,
): JournalRecord {
  return {
    key: `shop/Deployment/checkout-${whisper}/app/CrashLoopBackOff`,
    identity: {
      cluster: "prod",
      project: "shop",
      workload: { kind: "Deployment", name: `checkout-${whisper}` },
      namespace: "shop",
      container: "app",
      signal: "CrashLoopBackOff",
    },
    tag: { agent: `node-${agent}/0b9e1c52-4f7a-4c1e-9d3f-${String(agent).padStart(12, "0")}`, seq },
    atMs: 1_765_000_000_000 + seq,
    occurrences: pods.map((p) => ({
      pod: {
        uid: `5f0c6c1e-8a2b-4d3e-9f10-${String(p).padStart(12, "0")}`,
        namespace: "shop",
        name: `checkout-${whisper}-7d9f8-${p}`,
        node: `node-${agent}`,
        qosClass: "Burstable",
      },
      count: 1,
    })),
    mark,
  };
}

it("reads back what it wrote, episodes, resolutions and marks included (and entries without a mark, from before marks)", () => {
  const records = [
    record(1, 7, 1, [1, 2]),
    { ...record(2, 3, 1, [3]), mark: undefined },
    {
      ...record(1, 8, 2, [4]),
      occurrences: [
        {
          ...(record(1, 8, 2, [4]).occurrences[0] as JournalRecord["occurrences"][0]),
          episode: 2 ** 47 + 5,
          resolved: true,
        },
      ],
    },
  ];
  expect(decodeJournal(encodeJournal(records))).toEqual({ records, malformed: 0 });
});

it("an entry costs about 30 bytes once its agent, whisper and pods are there; the estimate bounds it", () => {
  // 200 agents, 40 whispers with 3 pods each: the shared tables first...
  const base: JournalRecord[] = [];
  for (let a = 0; a < 200; a++)
    base.push(record(a, 1, a % 40, [(a % 40) * 3, (a % 40) * 3 + 1, (a % 40) * 3 + 2]));
  const baseBytes = Buffer.byteLength(encodeJournal(base));
  // ...then 5,000 more batches of the same agents on the same whispers, one crash loop each.
  const more = [...base];
  for (let i = 0; i < 5_000; i++) more.push(record(i % 200, 2 + Math.floor(i / 200), i % 40, [(i % 40) * 3]));
  const perEntry = (Buffer.byteLength(encodeJournal(more)) - baseBytes) / 5_000;
  console.log(
    `journal: ${baseBytes} bytes for 200 agents × 40 whispers × 3 pods; ${perEntry.toFixed(1)} bytes per further entry`,
  );
  expect(perEntry).toBeLessThan(36);
  // The default --journal-max-bytes (768 KiB) holds ~20,000 such entries beside the tables.
  expect(baseBytes + 20_000 * perEntry).toBeLessThan(786_432);
  // The bound is enforced with estimates: never below what one entry alone really takes.
  for (const r of [record(1, 1, 1, [1]), record(123, 45_678, 7, [1, 2, 3, 4, 5, 6, 7, 8])]) {
    expect(estimateBytes(r)).toBeGreaterThanOrEqual(Buffer.byteLength(encodeJournal([r])));
  }
});

it("what cannot be read is counted and left out, the rest is replayed", () => {
  const good = record(1, 9, 1, [1]);
  const doc = JSON.parse(encodeJournal([good]));
  doc.e.push([5, 0, 10, 1, [[0, 1, 0, 0]]], [0, 0, -1, 1, []], "junk");
  expect(decodeJournal(JSON.stringify(doc))).toEqual({ records: [good], malformed: 3 });
  expect(decodeJournal("{not json")).toEqual({ records: [], malformed: 1 });
  expect(decodeJournal(JSON.stringify({ ...doc, v: 99 }))).toEqual({ records: [], malformed: 1 });
  expect(decodeJournal(undefined)).toEqual({ records: [], malformed: 0 });
});
