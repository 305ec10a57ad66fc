// fast-check arbitraries for wire events: every event kind, pods drawn from a small pool so
// batches hold several events about one pod (and, sometimes, one uid whose labels changed
// between two events), 64-bit fields up to 2^53 - 1, unicode strings, empty fields.
import fc from "fast-check";
import type { PodRef, WireEvent } from "../../../shared/proto.ts";

const u64 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 31 }), fc.maxSafeNat());
const u32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const dbl = fc.oneof(fc.constant(0), fc.double({ noNaN: true }));
const text = fc.oneof(
  fc.constant(""),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 6 }),
);

export const podRefArb = (uid: fc.Arbitrary<string>, node: fc.Arbitrary<string>): fc.Arbitrary<PodRef> =>
  fc.record({
    uid,
    namespace: fc.string({ minLength: 1, maxLength: 10 }),
    name: fc.string({ minLength: 1, maxLength: 12 }),
    node,
    labels: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), text, { maxKeys: 4 }),
    owners: fc.array(
      fc.record({ apiVersion: text, kind: text, name: text, uid: text, controller: fc.boolean() }),
      { maxLength: 2 },
    ),
    qosClass: fc.constantFrom("", "Burstable", "Guaranteed", "BestEffort"),
  });

const kind = fc.oneof(
  fc.record({
    failure: fc.record({
      reason: text,
      exitCode: i32,
      signal: i32,
      message: text,
      restartCount: u32,
      startedAtMs: u64,
      finishedAtMs: u64,
      containerKind: fc.integer({ min: 0, max: 3 }),
      memoryLimitBytes: u64,
      lastReason: text,
      backoffSeconds: u32,
    }),
  }),
  fc.record({
    oom: fc.record({
      source: fc.integer({ min: 0, max: 2 }),
      kills: u32,
      memoryLimitBytes: u64,
      memoryPeakBytes: u64,
      mainProcessSurvived: fc.boolean(),
    }),
  }),
  fc.record({
    throttle: fc.record({
      state: fc.integer({ min: 0, max: 3 }),
      throttledRatio: dbl,
      throttledSeconds: dbl,
      coresUsed: dbl,
      limitCores: dbl,
      demandCores: dbl,
      windowSeconds: u32,
      nrPeriods: u64,
      nrThrottled: u64,
      pressureSomeAvg10: dbl,
      demandSamples: fc.array(dbl, { maxLength: 4 }),
    }),
  }),
  fc.record({
    birth: fc.record({
      steps: fc.array(
        fc.record({
          name: text,
          actor: fc.integer({ min: 0, max: 5 }),
          atMs: u64,
          durationMs: u64,
          container: text,
        }),
        { maxLength: 3 },
      ),
      totalMs: u64,
      ready: fc.boolean(),
      failureReason: text,
      cpuSeconds: dbl,
      throttledPeriods: u64,
      memoryPeakBytes: u64,
      processCount: u32,
      createdAtMs: u64,
    }),
  }),
  fc.constant({}),
);

/**
 * A batch's events about `node`, over a pool of up to `pods` pods. Most events share their
 * pod's ref object (as the pod watch does); some carry an equal copy, some a ref whose labels
 * changed (same uid, different identity).
 */
export function eventsArb(
  options: { node?: string; pods?: number; maxEvents?: number } = {},
): fc.Arbitrary<WireEvent[]> {
  const node = fc.constant(options.node ?? "node-a");
  const pool = fc.uniqueArray(podRefArb(fc.uuid(), node), {
    minLength: 1,
    maxLength: options.pods ?? 4,
    selector: (p) => p.uid,
  });
  return pool.chain((refs) => {
    const ref = fc
      .tuple(fc.constantFrom(...refs), fc.integer({ min: 0, max: 9 }))
      .map(([p, roll]): PodRef => {
        if (roll === 0) return { ...p, labels: { ...p.labels } };
        if (roll === 1) return { ...p, labels: { ...p.labels, changed: String(roll) } };
        return p;
      });
    return fc.array(
      fc
        .tuple(
          fc.record({
            id: fc.string({ minLength: 1, maxLength: 40 }),
            container: text,
            observedAtMs: u64,
            count: u32,
          }),
          ref,
          kind,
        )
        .map(([base, pod, k]): WireEvent => ({ ...base, pod, ...k })),
      { maxLength: options.maxEvents ?? 12 },
    );
  });
}
