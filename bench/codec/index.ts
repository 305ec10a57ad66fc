// Codec: our encode + decode path per event (one 1,000-event Batch Envelope, encoded and
// decoded whole) against protobufjs static Event.encode/decode of each event alone.
import { decodeEnvelope, encodeEnvelope, wire } from "../../shared/proto.ts";
import { mixEvents } from "../events/mix.ts";
import { round, sideBySide, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";

const BATCH = 1_000;

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const events = mixEvents(BATCH, { seed: 7, pods: 110 });
  let seq = 0;
  const samples = sideBySide(
    {
      ours: () => {
        const bytes = encodeEnvelope({ batch: { seq: ++seq, events, sentAtMs: 1_763_900_000_000 } });
        return decodeEnvelope(bytes).batch?.events?.length;
      },
      floor: () => {
        let n = 0;
        for (const e of events) {
          const bytes = wire.Event.encode(e).finish();
          n += wire.Event.decode(bytes).observedAtMs as number;
        }
        return n;
      },
    },
    { warmup: quick ? 20 : 200, iterations: quick ? 30 : 500 },
  );
  const toUs = (ms: number[]) => ms.map((m) => (m * 1000) / BATCH);
  const ours = summarize(toUs(samples.ours));
  const floor = summarize(toUs(samples.floor));
  const ratio = ours.median / floor.median;
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
        note: `shared/proto encodeEnvelope+decodeEnvelope of a 1,000-event Batch, ${ours.n} interleaved rounds; floor = wire.Event.encode(e).finish() + wire.Event.decode(b) per event alone`,
      },
    ],
  };
}

export const codec = { id: "codec", run } satisfies BenchCase;
