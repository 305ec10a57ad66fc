// Property: under any mix of pushes, takes and put-backs the outbox stays within its
// bounds, hands events out oldest first, and every event is either taken, still queued,
// or counted as dropped — a failure never while a throttle sample could have gone instead.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { createQueueMetrics } from "./metrics.ts";
import { encodedSize, Outbox } from "./outbox.ts";

const pod = { uid: "u", namespace: "shop", name: "cart" };
const make = (i: number, throttle: boolean): WireEvent =>
  throttle
    ? { id: `t${i}`, pod, container: "app", count: 1, throttle: { state: 2, throttledRatio: i / 1000 } }
    : {
        id: `f${i}`,
        pod,
        container: "app",
        count: 1,
        failure: { reason: "OOMKilled", message: "x".repeat(i % 50) },
      };

type Op = { op: "push"; throttle: boolean } | { op: "take"; n: number };

const ops = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant("push" as const), throttle: fc.boolean() }) },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant("take" as const), n: fc.integer({ min: 1, max: 8 }) }),
    },
  ),
  { maxLength: 120 },
);

describe("outbox invariants", () => {
  it("bounded, ordered, and every event accounted for", async () => {
    await fc.assert(
      fc.asyncProperty(
        ops,
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 200, max: 2_000 }),
        async (list: Op[], maxEvents, maxBytes) => {
          const registry = createRegistry({ defaultMetrics: false });
          const metrics = createQueueMetrics(registry);
          const outbox = new Outbox({
            clock: new ManualClock(),
            metrics,
            maxEvents,
            maxBytes,
            maxBatchEvents: 5,
            flushIntervalMs: 100,
            isLineIdle: () => false,
          });
          const pushed = new Map<string, WireEvent>();
          const taken = new Set<string>();
          const inflight: WireEvent[] = [];
          let n = 0;
          const failureDrops = async () =>
            (await registry.getMetricsAsJSON())
              .find((m) => m.name === "kernel_gossip_agent_events_dropped_total")
              ?.values.filter((v) => v.labels.type === "failure")
              .reduce((s, v) => s + v.value, 0) ?? 0;
          const throttleDrops = async () =>
            (await registry.getMetricsAsJSON())
              .find((m) => m.name === "kernel_gossip_agent_events_dropped_total")
              ?.values.filter((v) => v.labels.type === "throttle")
              .reduce((s, v) => s + v.value, 0) ?? 0;
          // Throttle samples still queued: pushed, minus handed out, minus dropped.
          const queuedThrottle = async () =>
            [...pushed.values()].filter((e) => e.throttle).length -
            inflight.filter((e) => e.throttle).length -
            (await throttleDrops());
          for (const o of list) {
            if (o.op === "push") {
              const e = make(n++, o.throttle);
              pushed.set(e.id ?? "", e);
              const before = await failureDrops();
              outbox.push(e);
              // A failure goes only when no throttle sample is left to go instead.
              if ((await failureDrops()) > before) expect(await queuedThrottle()).toBe(0);
            } else {
              const got = outbox.take(o.n);
              // oldest first: ids of one kind come out in push order
              for (const kind of ["t", "f"]) {
                const nums = got.filter((e) => e.id?.startsWith(kind)).map((e) => Number(e.id?.slice(1)));
                expect(nums).toEqual([...nums].sort((a, b) => a - b));
              }
              inflight.push(...got);
            }
            expect(outbox.size).toBeLessThanOrEqual(maxEvents);
            expect(outbox.bytes).toBeLessThanOrEqual(maxBytes);
          }
          for (const e of inflight) taken.add(e.id ?? "");
          const queuedBytes = outbox.bytes;
          const remaining = outbox.take(Number.MAX_SAFE_INTEGER);
          expect(remaining.reduce((s, e) => s + encodedSize(e), 0)).toBe(queuedBytes);
          expect(outbox.bytes).toBe(0);
          const dropped =
            (await registry.getMetricsAsJSON())
              .find((m) => m.name === "kernel_gossip_agent_events_dropped_total")
              ?.values.reduce((s, v) => s + v.value, 0) ?? 0;
          // Everything pushed was handed out, is still queued, or was counted dropped.
          const handedOut = new Set([...taken, ...remaining.map((e) => e.id ?? "")]);
          expect(handedOut.size + dropped).toBe(pushed.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});
