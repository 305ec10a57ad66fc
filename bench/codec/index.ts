// Codec: our encode + decode path per event — the agent's batch encode (agent/link
// buildBatch: the Batch Envelope plus each event's audit hash) and the aggregator's frame
// decode (aggregator/stream FrameHandler: decode plus per-event checks) — against protobufjs
// static Event.encode/decode of each event alone. All contenders run interleaved, in the
// same process, over the same 1,000 events.
import { createHash } from "node:crypto";
import { buildBatch } from "../../agent/link/unacked.ts";
import { FrameHandler } from "../../aggregator/stream/frame-handler.ts";
import { systemClock } from "../../shared/clock.ts";
import { decodeEnvelope, encodeEnvelope, PROTOCOL_VERSION, wire } from "../../shared/proto.ts";
import { mixEvents } from "../events/mix.ts";
import { round, sideBySide, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions, BenchRow } from "../types.ts";

const BATCH = 1_000;
const NODE = "ip-10-0-12-34.eu-west-1.compute.internal";

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const events = mixEvents(BATCH, { seed: 7, pods: 110, node: NODE });
  const frames = new FrameHandler({
    limits: {
      maxPayloadBytes: 64 << 20,
      maxBatchEvents: 10_000,
      maxEventsPerSecond: Number.MAX_SAFE_INTEGER,
    },
    clock: systemClock,
  });
  const hello = frames.handle(
    encodeEnvelope({ hello: { node: NODE, cluster: "bench", protocolVersion: PROTOCOL_VERSION } }),
    true,
  );
  if (hello.kind !== "hello") throw new Error(`FrameHandler refused the Hello: ${JSON.stringify(hello)}`);
  // What an agent sends to a current aggregator (which announces the per-batch pod table).
  const table = { podTable: true };
  const encoded = buildBatch(1, events, 1_763_900_000_000, table).frame;
  const singles = events.map((e) => wire.Event.encode(e).finish());
  let seq = 0;
  const decode = (frame: Uint8Array): number => {
    const outcome = frames.handle(frame, true);
    if (outcome.kind !== "batch")
      throw new Error(`FrameHandler did not accept the batch: ${JSON.stringify(outcome)}`);
    return outcome.events.length;
  };
  const samples = sideBySide(
    {
      ours: () => decode(buildBatch(++seq, events, 1_763_900_000_000, table).frame),
      oursFullRefs: () => decode(buildBatch(++seq, events, 1_763_900_000_000).frame),
      floor: () => {
        let n = 0;
        for (const e of events) n += wire.Event.decode(wire.Event.encode(e).finish()).count as number;
        return n;
      },
      agentEncode: () => buildBatch(++seq, events, 1_763_900_000_000, table).frame,
      aggregatorDecode: () => decode(encoded),
      envelope: () => decodeEnvelope(encodeEnvelope({ batch: { seq: ++seq, events, sentAtMs: 1 } })),
      floorEncode: () => {
        let n = 0;
        for (const e of events) n += wire.Event.encode(e).finish().length;
        return n;
      },
      floorDecode: () => {
        let n = 0;
        for (const b of singles) n += wire.Event.decode(b).count as number;
        return n;
      },
      auditHash: () => {
        let n = 0;
        for (const b of singles) n += createHash("sha256").update(b).digest("hex").length;
        return n;
      },
    },
    { warmup: quick ? 10 : 50, iterations: quick ? 20 : 200 },
  );
  const us = (name: keyof typeof samples) => summarize(samples[name].map((ms) => (ms * 1000) / BATCH));
  const ours = us("ours");
  const floor = us("floor");
  const ratio = ours.median / floor.median;
  const info = (
    figure: string,
    name: keyof typeof samples,
    floorName: keyof typeof samples,
    note: string,
  ): BenchRow => {
    const s = us(name);
    const f = us(floorName);
    return {
      figure,
      value: round(s.median),
      p99: round(s.p99),
      unit: "µs",
      floor: round(f.median),
      ratio: round(s.median / f.median),
      note,
    };
  };
  return {
    name: "codec",
    rows: [
      {
        figure: "encode+decode per event",
        value: round(ours.median),
        p99: round(ours.p99),
        unit: "µs",
        floor: round(floor.median),
        ratio: round(ratio),
        target: "≤ 1.2× floor",
        pass: ratio <= 1.2,
        note: `agent/link buildBatch (with the per-batch pod table a current aggregator announces) + aggregator/stream FrameHandler.handle of a 1,000-event Batch, ${ours.n} interleaved rounds; floor = wire.Event.encode(e).finish() + wire.Event.decode(b) per event alone`,
      },
      info(
        "… agent batch encode",
        "agentEncode",
        "floorEncode",
        "buildBatch with pod table (events encoded once, hashed for the audit line, framed) vs Event.encode alone",
      ),
      info(
        "… aggregator frame decode",
        "aggregatorDecode",
        "floorDecode",
        "FrameHandler.handle (decode, pod refs filled from the table, checks) vs Event.decode alone",
      ),
      info(
        "… of which audit SHA-256",
        "auditHash",
        "floorEncode",
        "sha256 hex of each encoded event (the audit line), vs Event.encode alone",
      ),
      info(
        "… without the pod table (full PodRef per event)",
        "oursFullRefs",
        "floor",
        "buildBatch without podTable (to an aggregator that does not announce it, and resends to one) + FrameHandler.handle",
      ),
      info(
        "shared/proto envelope encode+decode",
        "envelope",
        "floor",
        "encodeEnvelope + decodeEnvelope alone: the codec without the audit hash and checks",
      ),
    ],
  };
}

export const codec = { id: "codec", run } satisfies BenchCase;
