// shared/lru.ts: a cache bounded by maxSize (every entry of size 1) instead of lru-cache's
// `max`, so its memory grows with its entries; it must evict as `max` does.
import { LRUCache } from "lru-cache";
import { describe, expect, it } from "vitest";
import { boundedLru } from "./lru.ts";

describe("boundedLru", () => {
  it("holds at most its bound and evicts the least recently used, as lru-cache's max does", () => {
    const evicted: string[] = [];
    const ours = boundedLru<string, number>(3, {
      disposeAfter: (_v, key, reason) => {
        if (reason === "evict") evicted.push(key);
      },
    });
    const theirs = new LRUCache<string, number>({ max: 3 });
    for (const cache of [ours, theirs]) {
      for (const [i, key] of ["a", "b", "c"].entries()) cache.set(key, i);
      cache.get("a");
      cache.set("d", 3);
      cache.set("b", 4); // b was evicted: a new entry, which evicts c
      cache.set("a", 5); // an update: evicts nothing
    }
    expect([...ours.keys()]).toEqual(["a", "b", "d"]);
    expect([...ours.keys()]).toEqual([...theirs.keys()]);
    expect(ours.size).toBe(3);
    expect(evicted).toEqual(["b", "c"]);
  });

  it("keeps a large bound: 50,000 entries in, the oldest out only at the 50,001st", () => {
    const cache = boundedLru<string, true>(50_000);
    for (let i = 0; i < 50_000; i++) cache.set(`k${i}`, true);
    expect(cache.size).toBe(50_000);
    expect(cache.has("k0")).toBe(true);
    cache.set("k50000", true);
    expect(cache.size).toBe(50_000);
    expect(cache.has("k0")).toBe(false);
    expect(cache.has("k1")).toBe(true);
  });
});
