// Wire size: bytes per event of a realistic mix sent as 1,000-event protobuf batches,
// against JSON of the same events (the floor the protocol must beat: ≤ ⅓ of JSON).
import { encodeEnvelope } from "../../shared/proto.ts";
import { mixEvents } from "../events/mix.ts";
import { round, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";

const BATCH = 1_000;

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const batches = quick ? 3 : 20;
  const proto: number[] = [];
  const json: number[] = [];
  for (let b = 0; b < batches; b++) {
    const events = mixEvents(BATCH, { seed: 1000 + b, pods: 110 });
    const bytes = encodeEnvelope({ batch: { seq: b + 1, events, sentAtMs: Date.now() } });
    proto.push(bytes.length / BATCH);
    json.push(Buffer.byteLength(JSON.stringify(events)) / BATCH);
  }
  const p = summarize(proto);
  const j = summarize(json);
  const ratio = p.median / j.median;
  return {
    name: "wire size",
    rows: [
      {
        figure: "bytes/event, protobuf Batch of 1,000",
        value: round(p.median),
        p99: round(p.p99),
        unit: "B",
        floor: round(j.median),
        ratio: round(ratio),
        target: "≤ 0.33× JSON",
        pass: ratio <= 1 / 3,
        note: `${batches} batches of the mix (70% throttle, 20% failure, 8% birth, 2% kernel OOM, 110 pods); floor = JSON.stringify of the same events`,
      },
    ],
  };
}

export const wireSize = { id: "wire-size", run } satisfies BenchCase;
