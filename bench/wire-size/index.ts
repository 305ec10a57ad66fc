// Wire size: bytes per event of a realistic mix sent as 1,000-event protobuf batches,
// against JSON of the same events (the floor the protocol must beat: ≤ ⅓ of JSON).
// Also shows where the bytes go: the pod identity (PodRef: uid, namespace, name, node,
// labels, owners) travels with every event and is most of each event.
import { buildBatch } from "../../agent/link/unacked.ts";
import { encodeEnvelope, wire } from "../../shared/proto.ts";
import { MIX, mixEvents } from "../events/mix.ts";
import { round, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";

const BATCH = 1_000;

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const batches = quick ? 3 : 20;
  const proto: number[] = [];
  const json: number[] = [];
  const podRef: number[] = [];
  const podTable: number[] = [];
  for (let b = 0; b < batches; b++) {
    const events = mixEvents(BATCH, { seed: 1000 + b, pods: 110 });
    // The agent's own batch encode (agent/link), the frame that goes on the wire.
    const bytes = buildBatch(b + 1, events, Date.now()).frame;
    proto.push(bytes.length / BATCH);
    json.push(Buffer.byteLength(JSON.stringify(events)) / BATCH);
    podRef.push(events.reduce((s, e) => s + wire.PodRef.encode(e.pod ?? {}).finish().length, 0) / BATCH);
    // What the same batch would weigh if each pod's identity travelled once per batch and
    // events named their pod by uid only — NOT the current protocol; shown for the decision.
    const slim = events.map((e) => ({ ...e, pod: { uid: e.pod?.uid ?? "", node: e.pod?.node ?? "" } }));
    const pods = new Map(events.map((e) => [e.pod?.uid, e.pod ?? {}]));
    const table = [...pods.values()].reduce((s, p) => s + wire.PodRef.encode(p).finish().length + 3, 0);
    podTable.push(
      (encodeEnvelope({ batch: { seq: b + 1, events: slim, sentAtMs: Date.now() } }).length + table) / BATCH,
    );
  }
  const p = summarize(proto);
  const j = summarize(json);
  const ratio = p.median / j.median;
  const t = summarize(podTable);
  const mix = `${MIX.throttle * 100}% throttle, ${MIX.failure * 100}% failure, ${MIX.birth * 100}% birth, ${MIX.oom * 100}% kernel OOM`;
  return {
    name: "wire size",
    rows: [
      {
        figure: "bytes/event, agent Batch frame of 1,000",
        value: round(p.median),
        p99: round(p.p99),
        unit: "B",
        floor: round(j.median),
        ratio: round(ratio),
        target: "≤ 0.33× JSON",
        pass: ratio <= 1 / 3,
        note: `${batches} batches of the mix (${mix}; 110 pods, 7 labels and 1 owner each); floor = JSON.stringify of the same events`,
      },
      {
        figure: "… of which pod identity (PodRef)",
        value: round(summarize(podRef).median),
        unit: "B",
        note: "PodRef bytes per event: the same labels and owners repeat for every event about a pod",
      },
      {
        figure: "bytes/event if PodRef went once per batch",
        value: round(t.median),
        p99: round(t.p99),
        unit: "B",
        floor: round(j.median),
        ratio: round(t.median / j.median),
        note: "hypothetical, not the current protocol: a per-batch pod table, events carrying uid+node only",
      },
    ],
  };
}

export const wireSize = { id: "wire-size", run } satisfies BenchCase;
