import { readFileSync } from "node:fs";
import fc from "fast-check";
import { expect, it } from "vitest";
import { EPISODES_MAX, EpisodeRecord, episodeKey } from "./episodes.ts";

it("names an episode by pod, container and opening time, and survives the round trip through status.episodes", () => {
  const a = episodeKey("3f1c0b5e-9a1d-4c1e-8f3a-0c9d2b7e6a11", "app", 1_765_000_000_000);
  expect(episodeKey("3f1c0b5e-9a1d-4c1e-8f3a-0c9d2b7e6a11", "app", 1_765_000_000_000)).toBe(a);
  expect(episodeKey("3f1c0b5e-9a1d-4c1e-8f3a-0c9d2b7e6a11", "app", 1_765_000_000_001)).not.toBe(a);
  expect(episodeKey("3f1c0b5e-9a1d-4c1e-8f3a-0c9d2b7e6a11", "sidecar", 1_765_000_000_000)).not.toBe(a);
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(fc.uuid(), fc.nat()), { maxLength: 200 }), (episodes) => {
      const record = new EpisodeRecord();
      const keys = episodes.map(([uid, at]) => episodeKey(uid, "app", at));
      for (const k of keys) record.add(k);
      const back = EpisodeRecord.parse(record.render());
      expect(back.malformed).toBe(0);
      expect(back.record.render()).toBe(record.render());
      for (const k of keys) expect(back.record.has(k)).toBe(true);
    }),
  );
});

it("hashes the text `<pod uid>/<container>/<opened at>` exactly, without building it (keys are stored in objects)", () => {
  // The definition, as first written: FNV-1a twice over the text.
  const reference = (text: string): number => {
    let a = 0x811c9dc5;
    let b = 0x050c5d1f;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
    }
    return (a >>> 0) * 0x10000 + ((b >>> 0) & 0xffff);
  };
  // A key written by the first version, in objects since.
  expect(episodeKey("3f1c0b5e-9a1d-4c1e-8f3a-0c9d2b7e6a11", "app", 1_765_000_000_000)).toBe(
    48_940_413_605_959,
  );
  fc.assert(
    fc.property(
      fc.string({ unit: "grapheme", maxLength: 40 }),
      fc.string({ unit: "grapheme", maxLength: 20 }),
      fc.oneof(
        fc.maxSafeNat(),
        fc.constantFrom(0, 9, 10, 99, 100, Number.MAX_SAFE_INTEGER, -1, 1.5, Number.NaN),
      ),
      (uid, container, at) => {
        expect(episodeKey(uid, container, at)).toBe(reference(`${uid}/${container}/${at}`));
      },
    ),
    { numRuns: 2_000 },
  );
});

it("keeps the most recently seen episodes, within the schema's length", () => {
  const record = new EpisodeRecord();
  const key = (i: number) => episodeKey(`pod-${i}`, "app", 1_765_000_000_000 + i);
  for (let i = 0; i < EPISODES_MAX; i++) record.add(key(i));
  record.add(key(0)); // seen again: now the most recent
  record.add(key(EPISODES_MAX));
  expect(record.size).toBe(EPISODES_MAX);
  expect(record.has(key(0))).toBe(true);
  expect(record.has(key(1))).toBe(false); // the least recently seen went first
  const rendered = record.render();
  const crd = readFileSync(new URL("../../crds/kernelwhispers.yaml", import.meta.url), "utf8");
  const maxLength = Number(/\n {16}episodes:[\s\S]*?maxLength: (\d+)/.exec(crd)?.[1]);
  expect(rendered.length).toBeLessThanOrEqual(maxLength);
  expect(maxLength).toBe(EPISODES_MAX * 9);
  expect(crd).toContain(`the ${EPISODES_MAX} most recently seen`);
});

it("skips what does not parse (a hand edit) and counts it", () => {
  const good = new EpisodeRecord();
  good.add(episodeKey("p", "app", 1));
  const { record, malformed } = EpisodeRecord.parse(`${good.render()},not-a-key!,${"x".repeat(40)}`);
  expect(malformed).toBe(2);
  expect(record.size).toBe(1);
  expect(EpisodeRecord.parse(42).malformed).toBe(1);
  expect(EpisodeRecord.parse(undefined).malformed).toBe(0);
});
