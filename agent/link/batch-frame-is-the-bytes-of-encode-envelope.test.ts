import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeEnvelope,
  encodeEnvelope,
  fillFromPodTable,
  type PodRef,
  type WireEvent,
  wire,
} from "../../shared/proto.ts";
import { encodeBatchFrame } from "./encode.ts";
import { eventsArb } from "./testing/arbitrary-events.ts";
import { buildBatch, withFullPodRefs } from "./unacked.ts";

const sha = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

describe("the batch frame, each event encoded once", () => {
  it("is byte-for-byte encodeEnvelope of the same batch, for random events, seq and time", () => {
    fc.assert(
      fc.property(
        eventsArb(),
        fc.oneof(fc.constant(0), fc.maxSafeNat()),
        fc.maxSafeNat(),
        (events, seq, at) => {
          const ours = encodeBatchFrame(seq, events, at).frame;
          const reference = encodeEnvelope({ batch: { seq, events, sentAtMs: at } });
          expect(Buffer.from(ours).equals(Buffer.from(reference))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("hashes each event's own encoding for the audit line", () => {
    fc.assert(
      fc.property(eventsArb(), (events) => {
        const batch = buildBatch(7, events, 1_763_900_000_000);
        expect(batch.audit).toEqual(
          events.map((e) => [e.id ?? "", sha(wire.Event.encode(e).finish()), e.count || 1]),
        );
        expect(batch.events).toBe(events.length);
      }),
      { numRuns: 100 },
    );
  });

  it("decodes back to the same events", () => {
    fc.assert(
      fc.property(eventsArb(), (events) => {
        const decoded = wire.Envelope.decode(buildBatch(3, events, 42).frame);
        const plain = (e: ReturnType<typeof wire.Event.decode>) =>
          wire.Event.toObject(e, { defaults: false });
        expect(decoded.batch?.seq).toBe(3);
        expect(
          (decoded.batch?.events ?? []).map((e) => plain(wire.Event.decode(wire.Event.encode(e).finish()))),
        ).toEqual(events.map((e) => plain(wire.Event.decode(wire.Event.encode(e).finish()))));
      }),
      { numRuns: 100 },
    );
  });
});

/** The pod-table form built the obvious way: first ref per uid in the table, same ref → uid-only. */
function referenceTableFrame(seq: number, events: WireEvent[], at: number): Uint8Array {
  const table = new Map<string, Uint8Array>();
  const pods: PodRef[] = [];
  const wireEvents = events.map((e) => {
    const uid = e.pod?.uid ?? "";
    if (!e.pod || uid === "") return e;
    const bytes = wire.PodRef.encode(e.pod).finish();
    const listed = table.get(uid);
    if (!listed) {
      table.set(uid, bytes);
      pods.push(e.pod);
    } else if (!Buffer.from(listed).equals(Buffer.from(bytes))) return e;
    return { ...e, pod: { uid, node: e.pod.node ?? "" } };
  });
  return encodeEnvelope({ batch: { seq, events: wireEvents, sentAtMs: at, pods } });
}

describe("the batch frame with a pod table", () => {
  it("is byte-for-byte encodeEnvelope of the batch with Batch.pods and uid-only events", () => {
    fc.assert(
      fc.property(eventsArb(), fc.maxSafeNat(), fc.maxSafeNat(), (events, seq, at) => {
        const ours = encodeBatchFrame(seq, events, at, { podTable: true }).frame;
        expect(Buffer.from(ours).equals(Buffer.from(referenceTableFrame(seq, events, at)))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("gives back every event's full pod once filled from the table, and the same audit hashes", () => {
    fc.assert(
      fc.property(eventsArb({ pods: 3, maxEvents: 20 }), (events) => {
        const table = buildBatch(5, events, 9, { podTable: true });
        const full = buildBatch(5, events, 9);
        expect(table.audit).toEqual(full.audit);
        const batch = decodeEnvelope(table.frame).batch;
        const decoded = batch?.events ?? [];
        expect(fillFromPodTable(batch?.pods ?? [], decoded)).toBeUndefined();
        const again = encodeEnvelope({ batch: { seq: 5, events: decoded, sentAtMs: 9 } });
        expect(Buffer.from(again).equals(Buffer.from(full.frame))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("re-encodes a table batch with full refs for a peer without the capability: the frame of a full batch", () => {
    fc.assert(
      fc.property(eventsArb({ pods: 2, maxEvents: 10 }), (events) => {
        const batch = buildBatch(8, events, 77, { podTable: true });
        withFullPodRefs(batch);
        expect(batch.podTable).toBe(false);
        expect(Buffer.from(batch.frame).equals(Buffer.from(buildBatch(8, events, 77).frame))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it("weighs each pod's labels and owners once per batch", () => {
    const pod = {
      uid: "4f1c2b9e-0d7a-4c1e-9b3a-1f2e3d4c5b6a",
      namespace: "shop",
      name: "cart-7d9c5b6f4-x2x8k",
      node: "node-a",
      labels: { app: "cart", "pod-template-hash": "7d9c5b6f4", team: "payments", tier: "backend" },
      owners: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: "cart-7d9c5b6f4", uid: "rs-1", controller: true },
      ],
      qosClass: "Burstable",
    };
    const events: WireEvent[] = Array.from({ length: 100 }, (_, i) => ({
      id: `${pod.uid}/app/${i}/CrashLoopBackOff`,
      pod,
      container: "app",
      observedAtMs: 1_767_225_600_000 + i,
      count: 1,
      failure: { reason: "CrashLoopBackOff", restartCount: i },
    }));
    const full = buildBatch(1, events, 1).frame.length;
    const tabled = buildBatch(1, events, 1, { podTable: true }).frame.length;
    const podBytes = wire.PodRef.encode(pod).finish().length;
    // one full ref in the table instead of 100; each event keeps uid + node
    expect(full - tabled).toBeGreaterThan(99 * (podBytes - 60));
  });
});
