// The redelivery dedup (redelivery.ts) remembers the ids of written events within two bounds,
// --redelivery-cache-size (count) and --redelivery-cache-bytes, least recently used first out;
// an id it forgot is fresh again, one it remembers is a redelivery.
import { expect, it } from "vitest";
import { createRegistry } from "../../shared/metrics.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { createPipelineMetrics } from "./metrics.ts";
import { PendingBatch } from "./pending-batch.ts";
import { RedeliveryDedup } from "./redelivery.ts";

const crash = (id: string): WireEvent => ({ id, container: "app", failure: { reason: "CrashLoopBackOff" } });

/** Processes `ids` as one batch that is then written: their ids are remembered. */
function written(dedup: RedeliveryDedup, ids: string[]): number {
  const batch = new PendingBatch(dedup.settled);
  const fresh = dedup.fresh(batch, ids.map(crash));
  batch.sealed();
  return fresh.length;
}

it("keeps at most --redelivery-cache-size ids, the least recently written forgotten first", () => {
  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const dedup = new RedeliveryDedup({ size: 3, bytes: 1 << 20, metrics });
  expect(written(dedup, ["a1", "a2", "a3", "a4", "a5"])).toBe(5);
  // Three remembered: 3 × (2 characters + 64 bytes of bookkeeping).
  expect(metrics.redelivery.bytes()).toBe(3 * 66);
  // a1 and a2 were forgotten (fresh again); a3-a5 are redeliveries.
  expect(written(dedup, ["a1", "a2", "a3", "a4", "a5"])).toBe(2);
  expect(metrics.redelivery.bytes()).toBe(3 * 66);
});

it("keeps the ids within --redelivery-cache-bytes whatever their count bound", () => {
  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const dedup = new RedeliveryDedup({ size: 1_000, bytes: 4 * 74, metrics });
  const ids = Array.from({ length: 10 }, (_, i) => `long-id-${i}`); // 9 characters + 64 each
  expect(written(dedup, ids)).toBe(10);
  expect(metrics.redelivery.bytes()).toBe(4 * 73);
  expect(written(dedup, ids.slice(6))).toBe(0);
  expect(written(dedup, ids.slice(0, 2))).toBe(2);
});
