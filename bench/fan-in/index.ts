// Fan-in: 1,000 simulated agents — real WebSocket clients in two load-generator processes,
// each sending Hello then one real protobuf Batch every 10 s — connected to one real
// aggregator process that writes to the local API server. Measured: the aggregator's RSS
// and CPU (from /proc) at steady state. No floor: the target is absolute.
import { join } from "node:path";
import { type BenchKube, startBenchKube } from "../cluster/kube.ts";
import { startAggregator } from "../cluster/roles.ts";
import { type Child, REPO_ROOT, startChild, tempDir, waitFor } from "../proc/child.ts";
import { memoryBreakdown } from "../proc/memory.ts";
import { metricValue, scrape } from "../proc/metrics.ts";
import { sampleUsage } from "../proc/stat.ts";
import { round, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";
import type { LoadOptions } from "./load.ts";

const MiB = 1024 * 1024;
const INTERVAL_MS = 10_000;
const EVENTS_PER_BATCH = 10;

interface LoadStats {
  connected: number;
  batchesSent: number;
  eventsSent: number;
  acks: number;
  rejects: Record<string, number>;
  closes: number;
  errors: number;
  ackLatencyMs: number[];
}

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const agents = quick ? 100 : 1_000;
  const generators = quick ? 1 : 2;
  const windowMs = quick ? 5_000 : 60_000;
  const tmp = tempDir("fan-in");
  const children: Child[] = [];
  let kube: BenchKube | undefined;
  try {
    kube = await startBenchKube(tmp.path);
    // The namespaces the simulated pods live in (bench/events/mix.ts: one per 4 workloads).
    for (let n = 0; n < 10; n++) {
      await kube.request("POST", "/api/v1/namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: `team-${n}` },
      });
    }
    const aggregator = await startAggregator({
      logDir: tmp.path,
      kubeconfig: kube.api.kubeconfigPath,
      // One unbound static token: the simulated agents name their node in Hello.
      tokens: ["fan-in"],
    });
    children.push(aggregator.child);
    const ready: boolean[] = [];
    const stats: LoadStats[] = [];
    const loads: Child[] = [];
    for (let g = 0; g < generators; g++) {
      const per = Math.ceil(agents / generators);
      const options: LoadOptions = {
        url: aggregator.streamUrl ?? "",
        token: "fan-in",
        agents: Math.min(per, agents - g * per),
        first: g * per,
        nodePrefix: "node-",
        eventsPerBatch: EVENTS_PER_BATCH,
        intervalMs: INTERVAL_MS,
        rampConcurrency: 100,
      };
      const load = startChild({
        name: `load-${g}`,
        logDir: tmp.path,
        args: [join(REPO_ROOT, "bench/fan-in/load.ts"), JSON.stringify(options)],
        onLine: (line) => {
          const msg = JSON.parse(line) as { ready?: boolean; stats?: LoadStats };
          if (msg.ready) ready[g] = true;
          if (msg.stats) stats[g] = msg.stats;
        },
      });
      children.push(load);
      loads.push(load);
    }
    for (const [g, load] of loads.entries()) {
      await waitFor(`load generator ${g} to connect its agents`, () => (ready[g] ? true : undefined), {
        timeoutMs: 120_000,
        child: load,
      });
    }
    const before = await scrape(aggregator.metricsUrl);
    const connected = metricValue(before, "kernel_gossip_aggregator_connected_agents");
    // One full interval so every agent has sent at least one batch, then the window.
    await new Promise((r) => setTimeout(r, quick ? 2_000 : INTERVAL_MS));
    const eventsBefore = metricValue(
      await scrape(aggregator.metricsUrl),
      "kernel_gossip_aggregator_events_received_total",
    );
    const usage = await sampleUsage(aggregator.child.pid, { durationMs: windowMs, everyMs: 1_000 });
    // Batches are acked once their events are written (coalesced, rate-limited): wait for
    // some acks so the latency row has data even in quick mode.
    await waitFor(
      "the first batch acks",
      async () =>
        metricValue(
          await scrape(aggregator.metricsUrl),
          "kernel_gossip_aggregator_batch_duration_seconds_count",
        ) > 0
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 500, child: aggregator.child },
    );
    const after = await scrape(aggregator.metricsUrl);
    const eventsAfter = metricValue(after, "kernel_gossip_aggregator_events_received_total");
    const pendingObjects = metricValue(after, "kernel_gossip_aggregator_pending_objects");
    const rejects = metricValue(after, "kernel_gossip_aggregator_rejects_total");
    for (const [g, load] of loads.entries()) {
      await load.stop();
      if (!stats[g]) throw new Error(`load generator ${g} did not report:\n${load.tail()}`);
    }
    const total = stats.reduce(
      (s, x) => ({
        batches: s.batches + x.batchesSent,
        acks: s.acks + x.acks,
        closes: s.closes + x.closes,
        lat: s.lat.concat(x.ackLatencyMs),
      }),
      { batches: 0, acks: 0, closes: 0, lat: [] as number[] },
    );
    const rss = summarize(usage.rss.map((b) => b / MiB));
    const rssFinal = (usage.rss[usage.rss.length - 1] ?? Number.NaN) / MiB;
    const ack = summarize(total.lat);
    const label = quick ? `${agents} agents (quick; the full run has 1,000)` : `${agents} agents`;
    return {
      name: "fan-in",
      rows: [
        {
          figure: `aggregator RSS, ${label}`,
          value: round(rss.median),
          p99: round(rss.p99),
          unit: "MiB",
          target: "≤ 256 MiB",
          pass: rss.p99 <= 256,
          note: `VmRSS sampled every 1 s over ${round(usage.seconds)} s at steady state (final ${round(rssFinal)} MiB); pass judged on p99; ${memoryBreakdown(after)}; ${pendingObjects} objects with writes pending`,
        },
        {
          figure: `aggregator CPU, ${label}`,
          value: round(usage.cores),
          unit: "cores",
          target: "≤ 0.2 core",
          pass: usage.cores <= 0.2,
          note: `(utime+stime)/wall from /proc over the same ${round(usage.seconds)} s; each agent sends a ${EVENTS_PER_BATCH}-event Batch every ${INTERVAL_MS / 1000} s (${round((agents * EVENTS_PER_BATCH * 1000) / INTERVAL_MS)} events/s), load generators in ${generators} separate process(es)`,
        },
        {
          figure: "batch ack latency (send → Ack)",
          value: round(ack.median),
          p99: round(ack.p99),
          unit: "ms",
          note: `${connected} agents connected; ${round(((eventsAfter - eventsBefore) / usage.seconds) * 10) / 10} events/s received in the window; ${total.batches} batches sent, ${total.acks} acked, ${rejects} rejects, ${total.closes} closes`,
        },
      ],
    };
  } finally {
    for (const child of children.reverse()) await child.stop();
    await kube?.close();
    tmp.cleanup();
  }
}

export const fanIn = { id: "fan-in", run } satisfies BenchCase;
