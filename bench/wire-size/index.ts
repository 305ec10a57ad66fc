// Wire size: bytes per event of a realistic mix sent as 1,000-event Batch frames by the
// agent's own encoder (agent/link buildBatch), against JSON of the same events (the floor
// the protocol must beat: ≤ ⅓ of JSON). A current aggregator announces the per-batch pod
// table (each pod's identity once per batch); without it — an older aggregator, or a resend
// to one — every event carries its full PodRef, shown for comparison.
import { buildBatch } from "../../agent/link/unacked.ts";
import { wire } from "../../shared/proto.ts";
import { MIX, mixEvents } from "../events/mix.ts";
import { round, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";

const BATCH = 1_000;

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const batches = quick ? 3 : 20;
  const table: number[] = [];
  const full: number[] = [];
  const json: number[] = [];
  const podRef: number[] = [];
  for (let b = 0; b < batches; b++) {
    const events = mixEvents(BATCH, { seed: 1000 + b, pods: 110 });
    table.push(buildBatch(b + 1, events, Date.now(), { podTable: true }).frame.length / BATCH);
    full.push(buildBatch(b + 1, events, Date.now()).frame.length / BATCH);
    json.push(Buffer.byteLength(JSON.stringify(events)) / BATCH);
    podRef.push(events.reduce((s, e) => s + wire.PodRef.encode(e.pod ?? {}).finish().length, 0) / BATCH);
  }
  const t = summarize(table);
  const f = summarize(full);
  const j = summarize(json);
  const ratio = t.median / j.median;
  const mix = `${MIX.throttle * 100}% throttle, ${MIX.failure * 100}% failure, ${MIX.birth * 100}% birth, ${MIX.oom * 100}% kernel OOM`;
  return {
    name: "wire size",
    rows: [
      {
        figure: "bytes/event, agent Batch frame of 1,000",
        value: round(t.median),
        p99: round(t.p99),
        unit: "B",
        floor: round(j.median),
        ratio: round(ratio),
        target: "≤ 0.33× JSON",
        pass: ratio <= 1 / 3,
        note: `buildBatch with the per-batch pod table, ${batches} batches of the mix (${mix}; 110 pods, 7 labels and 1 owner each); floor = JSON.stringify of the same events`,
      },
      {
        figure: "… without the pod table (full PodRef per event)",
        value: round(f.median),
        p99: round(f.p99),
        unit: "B",
        floor: round(j.median),
        ratio: round(f.median / j.median),
        note: "to an aggregator that does not announce batch-pod-table (and resends to one)",
      },
      {
        figure: "… PodRef bytes per event, without the table",
        value: round(summarize(podRef).median),
        unit: "B",
        note: "the same labels and owners repeated for every event about a pod: what the pod table saves",
      },
    ],
  };
}

export const wireSize = { id: "wire-size", run } satisfies BenchCase;
