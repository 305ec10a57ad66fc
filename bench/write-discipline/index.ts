// Write discipline: 100,000 events about 10,000 pods of 20 workloads (throttle samples,
// crash loops, OOM kills), sent by 10 simulated agents (real WebSockets, real Batch frames)
// to the real aggregator process as fast as it accepts them. Counted at the local API
// server: every write request the aggregator made for KernelWhispers. Floor: one write
// per unique object. Target: each object written at most once per per-object interval
// (--object-min-interval, default 10 s) over the run — a storm becomes counters, not writes.
// Births are left out: each is its own PodBirthCertificate (one write per pod incarnation
// by design), which would measure pod churn, not coalescing.
import WebSocket from "ws";
import { decodeEnvelope, encodeEnvelope, PROTOCOL_VERSION, type WireEvent } from "../../shared/proto.ts";
import { type BenchKube, startBenchKube } from "../cluster/kube.ts";
import { startAggregator } from "../cluster/roles.ts";
import { mixEvents } from "../events/mix.ts";
import { type Child, tempDir, waitFor } from "../proc/child.ts";
import { metricValue, scrape } from "../proc/metrics.ts";
import { round } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";

const WORKLOADS = 20;
const BATCH = 1_000;
const OBJECT_INTERVAL_S = 10;
const STORM_MIX = { throttle: 0.75, failure: 0.2, birth: 0, oom: 0.05 };

const sum = (counters: Record<string, number>, prefix: string, verbs: string[]): number =>
  Object.entries(counters)
    .filter(([k]) => verbs.some((v) => k === `${v} ${prefix}` || k.startsWith(`${v} ${prefix}/`)))
    .reduce((s, [, v]) => s + v, 0);

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const nodes = quick ? 1 : 10;
  const podsPerNode = 1_000;
  const eventsPerNode = 10_000;
  const tmp = tempDir("writes");
  const children: Child[] = [];
  const sockets: WebSocket[] = [];
  let kube: BenchKube | undefined;
  try {
    kube = await startBenchKube(tmp.path);
    for (let n = 0; n < Math.ceil(WORKLOADS / 4); n++) {
      await kube.request("POST", "/api/v1/namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: `team-${n}` },
      });
    }
    const aggregator = await startAggregator({
      logDir: tmp.path,
      kubeconfig: kube.api.kubeconfigPath,
      tokens: ["storm"],
    });
    children.push(aggregator.child);
    const batches: { node: string; frames: Uint8Array[] }[] = [];
    for (let n = 0; n < nodes; n++) {
      const node = `storm-node-${n}`;
      const events: WireEvent[] = mixEvents(eventsPerNode, {
        seed: 500 + n,
        node,
        pods: podsPerNode,
        workloads: WORKLOADS,
        mix: STORM_MIX,
        nowMs: Date.now(),
      });
      const frames: Uint8Array[] = [];
      for (let i = 0; i < events.length; i += BATCH) {
        frames.push(
          encodeEnvelope({
            batch: { seq: i / BATCH + 1, events: events.slice(i, i + BATCH), sentAtMs: Date.now() },
          }),
        );
      }
      batches.push({ node, frames });
    }
    const before = await kube.counters();
    let acked = 0;
    let rejected = "";
    const total = batches.reduce((s, b) => s + b.frames.length, 0);
    const t0 = performance.now();
    for (const { node, frames } of batches) {
      const ws = new WebSocket(aggregator.streamUrl ?? "", {
        perMessageDeflate: false,
        headers: { authorization: "Bearer storm" },
      });
      sockets.push(ws);
      ws.on("message", (data: Buffer) => {
        const envelope = decodeEnvelope(data);
        if (envelope.ack) acked++;
        if (envelope.reject) rejected = `${envelope.reject.code}: ${envelope.reject.message}`;
      });
      ws.on("error", (err) => {
        rejected ||= err.message;
      });
      ws.on("open", () => {
        ws.send(
          encodeEnvelope({
            hello: { node, cluster: "bench", agentVersion: "bench-storm", protocolVersion: PROTOCOL_VERSION },
          }),
        );
        for (const frame of frames) ws.send(frame);
      });
    }
    await waitFor(
      `acks for all ${total} batches`,
      () => {
        if (rejected) throw new Error(`the aggregator refused the storm: ${rejected}`);
        return acked >= total ? true : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 50, child: aggregator.child },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message} (${acked} acked)`);
    });
    const seconds = (performance.now() - t0) / 1000;
    const after = await kube.counters();
    const delta: Record<string, number> = {};
    for (const [k, v] of Object.entries(after)) delta[k] = v - (before[k] ?? 0);
    const writes = sum(delta, "kernelwhispers", ["patch", "create", "update"]);
    const statusWrites = Object.entries(delta)
      .filter(([k]) => k.endsWith(" kernelwhispers/status") && !k.startsWith("get "))
      .reduce((n, [, v]) => n + v, 0);
    const reads = sum(delta, "kernelwhispers", ["get"]);
    const list = (await kube.request("GET", "/apis/kernel.gossip.io/v1alpha1/kernelwhispers")) as {
      items: unknown[];
    };
    const unique = list.items.length;
    const allowed = unique * Math.max(1, Math.ceil(seconds / OBJECT_INTERVAL_S));
    const metrics = await scrape(aggregator.metricsUrl);
    const coalesced = metricValue(metrics, "kernel_gossip_aggregator_writes_coalesced_total");
    const events = nodes * eventsPerNode;
    const label = quick
      ? `${events.toLocaleString("en-US")} events / ${(nodes * podsPerNode).toLocaleString("en-US")} pods (quick)`
      : "100,000 events / 10,000 pods";
    return {
      name: "write discipline",
      rows: [
        {
          figure: `KernelWhisper writes, ${label}`,
          value: writes,
          unit: "writes",
          floor: unique,
          ratio: round(writes / unique),
          target: `≤ objects × ⌈duration / ${OBJECT_INTERVAL_S} s⌉`,
          pass: writes <= allowed,
          note: `${unique} unique KernelWhispers (${WORKLOADS} workloads × containers × signals); ${writes} write requests (${statusWrites} of them to /status; server-side apply of spec, then status) and ${reads} reads in ${round(seconds)} s from first send to last ack → allowed ${allowed}; ${coalesced} changes coalesced; counted by the API server (${Object.entries(
            delta,
          )
            .filter(([k]) => k.includes("kernelwhispers"))
            .map(([k, v]) => `${k}=${v}`)
            .join(", ")})`,
        },
        {
          figure: "events per write",
          value: round(events / writes),
          unit: "ev/write",
          note: `${events} events (${STORM_MIX.throttle * 100}% throttle, ${STORM_MIX.failure * 100}% failure, ${STORM_MIX.oom * 100}% kernel OOM) from ${nodes} simulated agents, sent as fast as accepted`,
        },
      ],
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    for (const child of children.reverse()) await child.stop();
    await kube?.close();
    tmp.cleanup();
  }
}

export const writeDiscipline = { id: "write-discipline", run } satisfies BenchCase;
