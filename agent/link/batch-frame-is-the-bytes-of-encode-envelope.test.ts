import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeEnvelope, wire } from "../../shared/proto.ts";
import { encodeBatchFrame } from "./encode.ts";
import { eventsArb } from "./testing/arbitrary-events.ts";
import { buildBatch } from "./unacked.ts";

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
        expect(batch.audit).toEqual(events.map((e) => [e.id ?? "", sha(wire.Event.encode(e).finish())]));
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
