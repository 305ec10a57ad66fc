// Every event field is checked at the edge against what a real agent sends; a batch with one
// value out of range is refused with KG_EVENT_INVALID naming the field, and the events real
// agents send (including the extremes they can produce) pass.
import { describe, expect, it } from "vitest";
import { failureEvent } from "../../agent/link/testing/memory-outbox.ts";
import { ManualClock } from "../../shared/clock.ts";
import { encodeEnvelope, PROTOCOL_VERSION, type WireEvent } from "../../shared/proto.ts";
import { EVENT_FUTURE_SKEW_MS } from "./event-limits.ts";
import { FrameHandler } from "./frame-handler.ts";

const NODE = "node-a";
const NOW = Date.UTC(2026, 11, 6, 22, 0, 0);
const limits = { maxPayloadBytes: 4 << 20, maxBatchEvents: 50, maxEventsPerSecond: 1_000_000 };

function refused(event: WireEvent): { code?: string; field?: string; detail?: string } {
  const clock = new ManualClock(NOW);
  const h = new FrameHandler({ boundNode: NODE, limits, clock });
  h.handle(encodeEnvelope({ hello: { node: NODE, protocolVersion: PROTOCOL_VERSION } }), true);
  const out = h.handle(encodeEnvelope({ batch: { seq: 1, events: [failureEvent(1, NODE), event] } }), true);
  return out.kind === "reject" ? out : {};
}

const base = (extra: Partial<WireEvent>): WireEvent => failureEvent(2, NODE, { observedAtMs: NOW, ...extra });
const pod = (extra: Partial<NonNullable<WireEvent["pod"]>>): WireEvent =>
  base({ pod: { ...failureEvent(2, NODE).pod, ...extra } });

describe("event fields at the edge", () => {
  it.each<[string, WireEvent]>([
    ["observed_at_ms", base({ observedAtMs: 1.8e19 })],
    ["observed_at_ms", base({ observedAtMs: NOW + EVENT_FUTURE_SKEW_MS + 1 })],
    ["observed_at_ms", base({ observedAtMs: 1_000 })],
    ["id", base({ id: "x".repeat(256 * 1024) })],
    ["container", base({ container: "c".repeat(64) })],
    ["count", base({ count: 4_000_000_000 })],
    ["pod.namespace", pod({ namespace: "n".repeat(64) })],
    ["pod.name", pod({ name: "p".repeat(254) })],
    [
      "pod.labels",
      pod({ labels: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, "v"])) }),
    ],
    ["pod.labels[workload-id]", pod({ labels: { "workload-id": "w".repeat(64) } })],
    ["pod.owners", pod({ owners: Array.from({ length: 17 }, () => ({ kind: "ReplicaSet", name: "r" })) })],
    ["failure.message", base({ failure: { reason: "Error", message: "m".repeat(40_000) } })],
    ["failure.started_at_ms", base({ failure: { reason: "Error", startedAtMs: 9e18 } })],
    ["failure.signal", base({ failure: { reason: "Error", signal: 300 } })],
    ["oom.kills", base({ failure: null, oom: { kills: 2_000_000 } })],
    ["throttle.throttled_ratio", base({ failure: null, throttle: { state: 1, throttledRatio: 1.5 } })],
    [
      "throttle.demand_samples",
      base({ failure: null, throttle: { state: 2, demandSamples: [1, Number.NaN] } }),
    ],
    ["throttle.node_cpus", base({ failure: null, throttle: { state: 1, nodeCpus: 1e9 } })],
    ["throttle.pod_throttled_ratio", base({ failure: null, throttle: { state: 1, podThrottledRatio: 1.5 } })],
    // Above the node's CPUs: no thread could have used it (ADR 0012).
    [
      "throttle.demand_samples",
      base({ failure: null, throttle: { state: 2, nodeCpus: 2, demandSamples: [1, 2.5] } }),
    ],
    ["throttle.demand_cores", base({ failure: null, throttle: { state: 2, nodeCpus: 2, demandCores: 3 } })],
    ["memory.window_min_ratio", base({ failure: null, memory: { state: 1, windowMinRatio: 7 } })],
    [
      "memory.pressure.full_avg10",
      base({ failure: null, memory: { state: 1, pressure: { fullAvg10: 101 } } }),
    ],
    [
      "throttle.pressure.some_avg10",
      base({ failure: null, throttle: { state: 1, pressure: { someAvg10: -3 } } }),
    ],
    [
      "oom.preceding_pressure.opened_at_ms",
      base({ failure: null, oom: { kills: 1, precedingPressure: { openedAtMs: 1.8e19 } } }),
    ],
    ["birth.created_at_ms", base({ failure: null, birth: { createdAtMs: 3e17, ready: true } })],
    ["birth.steps.at_ms", base({ failure: null, birth: { steps: [{ name: "scheduled", atMs: 9e15 }] } })],
    ["birth.total_ms", base({ failure: null, birth: { totalMs: 9e15 } })],
  ])("refuses %s out of range", (field, event) => {
    const r = refused(event);
    expect(r.code).toBe("KG_EVENT_INVALID");
    expect(r.field).toBe(field);
    expect(r.detail).toContain(field);
  });

  it("passes what real agents send, extremes included", () => {
    for (const event of [
      base({}),
      base({ observedAtMs: 0 }),
      base({ observedAtMs: NOW + EVENT_FUTURE_SKEW_MS }),
      pod({ namespace: "n".repeat(63), name: "p".repeat(253), labels: { "example.com/k": "v".repeat(63) } }),
      base({
        failure: { reason: "Error", message: "m".repeat(4096), restartCount: 2 ** 31 - 1, exitCode: -1 },
      }),
      base({
        failure: null,
        throttle: { state: 1, throttledRatio: 1, demandSamples: [0.5, 64], pressureSomeAvg10: -1 },
      }),
      base({
        failure: null,
        throttle: { state: 2, nodeCpus: 64, demandCores: 64, demandSamples: [0.5, 64], limitedBy: "pod" },
      }),
      base({ failure: null, oom: { kills: 3, memoryLimitBytes: 2 ** 40, memoryPeakBytes: 2 ** 40 } }),
      base({
        failure: null,
        birth: {
          createdAtMs: NOW - 86_400_000,
          totalMs: 3_000,
          steps: [{ name: "scheduled", atMs: NOW - 1 }],
        },
      }),
    ]) {
      expect(refused(event)).toEqual({});
    }
  });
});
