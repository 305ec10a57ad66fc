// Hello.instance_id names the agent process (its batches' sequence numbers restart with it):
// passed on to the pipeline with every batch; absent for old agents; refused when it is not a
// short token.
import { expect, it } from "vitest";
import { failureEvent } from "../../agent/link/testing/memory-outbox.ts";
import { ManualClock } from "../../shared/clock.ts";
import { encodeEnvelope, PROTOCOL_VERSION } from "../../shared/proto.ts";
import { FrameHandler } from "./frame-handler.ts";

const limits = { maxPayloadBytes: 64 * 1024, maxBatchEvents: 50, maxEventsPerSecond: 1000 };
const handler = () => new FrameHandler({ boundNode: "node-a", limits, clock: new ManualClock() });
const hello = (instanceId?: string) =>
  encodeEnvelope({
    hello: {
      node: "node-a",
      protocolVersion: PROTOCOL_VERSION,
      ...(instanceId === undefined ? {} : { instanceId }),
    },
  });

it("accepts a UUID and, from old agents, no instance id at all", () => {
  const uuid = "0b8f2a4e-6c1d-4f5a-9e3b-7a2c1d0e9f8b";
  const h = handler();
  const outcome = h.handle(hello(uuid), true);
  expect(outcome).toMatchObject({ kind: "hello", node: "node-a", hello: { instanceId: uuid } });
  expect(
    h.handle(encodeEnvelope({ batch: { seq: 3, events: [failureEvent(1, "node-a")] } }), true),
  ).toMatchObject({ kind: "batch", seq: 3 });
  expect(handler().handle(hello(), true)).toMatchObject({ kind: "hello", hello: { instanceId: "" } });
});

it.each([["x".repeat(65)], ["node-a/evil"], ["spaces are not ids"], ["ünïcode"]])(
  "refuses instance id %j with KG_FRAME_MALFORMED",
  (instanceId) => {
    const outcome = handler().handle(hello(instanceId), true);
    expect(outcome).toMatchObject({ kind: "reject", code: "KG_FRAME_MALFORMED" });
    expect(outcome.kind === "reject" && outcome.detail).toMatch(/instance_id/);
  },
);
