// Batch.pods (the per-batch pod table): the frame handler gives every uid-only event its full
// pod before the node checks and before the pipeline sees the batch; a table that does not
// add up is refused with a code, never half applied.
import { describe, expect, it } from "vitest";
import { failureEvent } from "../../agent/link/testing/memory-outbox.ts";
import { buildBatch } from "../../agent/link/unacked.ts";
import { ManualClock } from "../../shared/clock.ts";
import { encodeEnvelope, PROTOCOL_VERSION, type WireEvent, wire } from "../../shared/proto.ts";
import { FrameHandler } from "./frame-handler.ts";

const limits = { maxPayloadBytes: 1 << 20, maxBatchEvents: 100, maxEventsPerSecond: 100_000 };

function session(boundNode = "node-a"): FrameHandler {
  const handler = new FrameHandler({ boundNode, limits, clock: new ManualClock() });
  const hello = handler.handle(
    encodeEnvelope({ hello: { node: boundNode, protocolVersion: PROTOCOL_VERSION } }),
    true,
  );
  expect(hello.kind).toBe("hello");
  return handler;
}

/** Three events about two pods, the agent's own table encoding. */
function events(node = "node-a"): WireEvent[] {
  const a = failureEvent(1, node);
  const b = failureEvent(2, node);
  return [a, { ...failureEvent(3, node), pod: a.pod }, b];
}

const plain = (e: WireEvent) => wire.Event.toObject(wire.Event.fromObject(e), { defaults: false });

describe("a batch with a pod table", () => {
  it("reaches the pipeline with every event's full pod, as if each had carried it", () => {
    const sent = events();
    const frame = buildBatch(4, sent, 1).frame;
    expect(wire.Envelope.decode(frame).batch?.pods).toHaveLength(0);
    const tabled = buildBatch(4, sent, 1, { podTable: true }).frame;
    expect(wire.Envelope.decode(tabled).batch?.pods).toHaveLength(2);
    expect(tabled.length).toBeLessThan(frame.length);
    const outcome = session().handle(tabled, true);
    expect(outcome.kind).toBe("batch");
    if (outcome.kind !== "batch") return;
    expect(outcome.events.map((e) => wire.Event.toObject(e, { defaults: false }))).toEqual(sent.map(plain));
  });

  it("refuses an event naming a uid the table lacks with KG_FRAME_MALFORMED", () => {
    const [a, b] = events();
    const frame = encodeEnvelope({
      batch: {
        seq: 7,
        events: [
          { ...a, pod: { uid: a?.pod?.uid, node: "node-a" } },
          { ...b, pod: { uid: "uid-nowhere", node: "node-a" } },
        ],
        pods: [a?.pod ?? {}],
      },
    });
    const outcome = session().handle(frame, true);
    expect(outcome).toMatchObject({ kind: "reject", code: "KG_FRAME_MALFORMED", seq: 7 });
    if (outcome.kind === "reject") expect(outcome.detail).toContain("uid-nowhere");
  });

  it("refuses a table listing a pod of another node with KG_NODE_MISMATCH, like an event about it", () => {
    const frame = buildBatch(9, events("node-b"), 1, { podTable: true }).frame;
    const outcome = session("node-a").handle(frame, true);
    expect(outcome).toMatchObject({ kind: "reject", code: "KG_NODE_MISMATCH", seq: 9 });
    if (outcome.kind === "reject") expect(outcome.detail).toContain('node "node-b"');
  });

  it("refuses a table listing one uid twice, or an entry without uid", () => {
    const [a] = events();
    const twice = encodeEnvelope({
      batch: { seq: 2, events: [a ?? {}], pods: [a?.pod ?? {}, a?.pod ?? {}] },
    });
    expect(session().handle(twice, true)).toMatchObject({ kind: "reject", code: "KG_FRAME_MALFORMED" });
    const noUid = encodeEnvelope({ batch: { seq: 3, events: [a ?? {}], pods: [{ node: "node-a" }] } });
    expect(session().handle(noUid, true)).toMatchObject({ kind: "reject", code: "KG_FRAME_MALFORMED" });
  });

  it("refuses a uid-only event whose node disagrees with its table entry", () => {
    const [a] = events();
    const frame = encodeEnvelope({
      batch: { seq: 5, events: [{ ...a, pod: { uid: a?.pod?.uid, node: "node-z" } }], pods: [a?.pod ?? {}] },
    });
    expect(session().handle(frame, true)).toMatchObject({
      kind: "reject",
      code: "KG_FRAME_MALFORMED",
      seq: 5,
    });
  });

  it("leaves batches without a table exactly as before", () => {
    const sent = events();
    const outcome = session().handle(buildBatch(1, sent, 1).frame, true);
    expect(outcome.kind).toBe("batch");
    if (outcome.kind === "batch") {
      expect(outcome.events.map((e) => wire.Event.toObject(e, { defaults: false }))).toEqual(sent.map(plain));
    }
  });
});
