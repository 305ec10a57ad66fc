// ADR 0011's amendment and ADR 0015: status.episodes keeps the EPISODES_MAX most recently seen
// episodes. A replica that samples a counted episode again has seen it most recently, but only
// in memory until its next write; when it takes in another replica's write first (the watch,
// or a 409's re-read), that write's record — built without this sample — may have evicted the
// episode as least recently seen. Its next sample must still count nothing — and neither
// must the next sample of an episode this replica counted, whichever replica's writes
// crowded it out of the record since: the replica keeps its own episodes in memory.
import { expect, it } from "vitest";
import { EPISODES_MAX, episodeKey } from "./episodes.ts";
import { testWhisper, throttlingOccurrence } from "./testing.ts";
import type { KObj, Occurrence, WhisperState } from "./whisper.ts";

const replica = () => testWhisper("api");

const sample = (pod: string, at: number): Occurrence =>
  throttlingOccurrence({ pod, at, episode: episodeKey(pod, "app", 1_765_000_000_000) });

/** A status write that succeeded: the object as the API server then holds it. */
function write(w: WhisperState, rv: number, uid = "uid-1"): KObj {
  const { body, delta } = w.statusBody(String(rv - 1));
  w.committed(delta, uid);
  return { ...body, metadata: { ...body.metadata, resourceVersion: String(rv), uid } };
}

/** Replica b takes `object` in and counts `n` episodes of other pods: its write evicts the oldest. */
function crowdOut(object: KObj, n: number, rv: number, uid = "uid-1"): KObj {
  const b = replica();
  b.adopt(object);
  for (let i = 0; i < n; i++) b.recordBatch(undefined, [sample(`pod-${i}`, Date.now())]);
  return write(b, rv, uid);
}

it("an episode sampled again here is kept as counted when another replica's write evicted it", () => {
  const a = replica();
  const b = replica();
  const now = Date.now();
  a.recordBatch(undefined, [sample("pod-e", now)]); // counts episode E
  expect(a.count).toBe(1);
  const first = write(a, 2);
  a.recordBatch(undefined, [sample("pod-e", now + 1)]); // E again: the most recently seen, here
  expect(a.count).toBe(1);

  // Replica b takes a's write in and counts EPISODES_MAX other episodes: its record, built
  // without a's second sample, evicts E (the least recently seen it knew of).
  b.adopt(first);
  for (let i = 0; i < EPISODES_MAX; i++) b.recordBatch(undefined, [sample(`pod-${i}`, now + 2)]);
  const second = write(b, 3);
  expect(second.status.count).toBe(1 + EPISODES_MAX);
  expect(second.status.episodes).not.toContain(first.status.episodes);

  // a takes b's write in, then samples E again: nothing more to count.
  a.adopt(second);
  expect(a.count).toBe(1 + EPISODES_MAX);
  a.recordBatch(undefined, [sample("pod-e", now + 3)]);
  expect(a.count).toBe(1 + EPISODES_MAX);
  // and a's next write records E again, as the most recently seen
  const third = write(a, 4);
  expect(third.status.count).toBe(1 + EPISODES_MAX);
  expect(String(third.status.episodes).endsWith(String(first.status.episodes))).toBe(true);
});

it("an episode this replica counted stays counted here when other replicas' writes crowd it out of the record", () => {
  const a = replica();
  a.recordBatch(undefined, [sample("pod-e", Date.now())]);
  const first = write(a, 2);
  const crowded = crowdOut(first, EPISODES_MAX, 3);
  expect(crowded.status.count).toBe(1 + EPISODES_MAX);
  a.adopt(crowded); // the watch delivers it
  a.recordBatch(undefined, [sample("pod-e", Date.now())]);
  expect(a.count).toBe(1 + EPISODES_MAX);
  // recorded again by a's next write, so a replica that takes over pod-e's agent knows it too
  const next = write(a, 4);
  expect(String(next.status.episodes).endsWith(String(first.status.episodes))).toBe(true);
});

it("a whisper deleted and created again counts this replica's episodes anew", () => {
  const a = replica();
  a.recordBatch(undefined, [sample("pod-e", Date.now())]);
  write(a, 2, "uid-1");
  // deleted (retention, by hand) and created again by another replica: a new uid, nothing counted
  const again = crowdOut({ metadata: { name: a.name, namespace: "w" } }, 1, 9, "uid-2");
  expect(again.status.count).toBe(1);
  a.adopt(again);
  a.recordBatch(undefined, [sample("pod-e", Date.now())]);
  expect(a.count).toBe(2);
});
