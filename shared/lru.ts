// Bounded LRU caches sized by what they hold (the agent's four caches use it). lru-cache's `max`
// allocates its slot arrays for `max` entries when the cache is made (the 50,000 remembered
// failures: about 1.1 MiB before the first one; the agent's four caches 1.9 MiB, measured with
// --expose-gc). Bounding by `maxSize` with every entry of size 1 evicts exactly as `max` would —
// the least recently used entry once a new one would exceed the bound — and allocates as
// entries come.
import { LRUCache } from "lru-cache";

/** At most `max` entries, least recently used evicted first; memory grows with the entries. */
export function boundedLru<K extends {}, V extends {}>(
  max: number,
  options: { disposeAfter?: LRUCache.Disposer<K, V> } = {},
): LRUCache<K, V> {
  return new LRUCache<K, V>({ ...options, maxSize: max, sizeCalculation: () => 1 });
}
