// The node spool's cost (agent/spool, ADR 0013), two ways:
//  1. per batch, in this process: the real Spool in a temp dir on this machine's disk, fed
//     1,000-event batches of the benchmark mix exactly as the link does (append = write +
//     fsync before the send, settle on the ack); bytes written and fsyncs per batch, and the
//     time per batch against the floor of building the same batch (buildBatch, which the link
//     does for every batch anyway);
//  2. the agent's CPU at the agent benchmark's load (110 pods / 250 containers, counters
//     advancing every 10 s, one container in five throttled), two real agent processes side by
//     side on two simulated nodes of the same shape, one with SPOOL_DIR and one without (the
//     floor), linked to one real aggregator; bytes and fsyncs per batch from the spooling
//     agent's own metrics;
//  3. the PENDING record under a storm (ADR 0013, "Held and queued counts"): dedup holding a
//     count for each of 1,000 distinct keys (a failure event of the mix each), every one of
//     them repeating between two persists, so the record changes every flush interval and is
//     rewritten whole (write + fsync) each time; against appending a 1,000-event batch of the
//     same events, side by side.
import { join } from "node:path";
import { createDedup } from "../../agent/delivery.ts";
import { buildBatch } from "../../agent/link/unacked.ts";
import { createQueueMetrics } from "../../agent/queue/metrics.ts";
import { createSpoolMetrics, Spool } from "../../agent/spool/index.ts";
import { testAgentOptions } from "../../agent/testing.ts";
import { ManualClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { type BenchKube, startBenchKube } from "../cluster/kube.ts";
import { simulateNode } from "../cluster/node.ts";
import { startAgent, startAggregator } from "../cluster/roles.ts";
import { mixEvents } from "../events/mix.ts";
import { type Child, tempDir } from "../proc/child.ts";
import { metricValue, scrape } from "../proc/metrics.ts";
import { runSeconds } from "../proc/stat.ts";
import { round, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions, BenchRow } from "../types.ts";

const BATCH = 1_000;
const SCAN_SECONDS = 10;

async function counter(registry: ReturnType<typeof createRegistry>, name: string): Promise<number> {
  return (await registry.getSingleMetric(name)?.get())?.values.reduce((n, v) => n + v.value, 0) ?? 0;
}

async function perBatch(quick: boolean): Promise<BenchRow[]> {
  const batches = quick ? 20 : 300;
  const tmp = tempDir("spool");
  try {
    const registry = createRegistry({ defaultMetrics: false });
    const spool = Spool.open(
      { dir: tmp.path, node: "node-1", maxBytes: 16 * 1024 * 1024 },
      { log: silentLogger(), metrics: createSpoolMetrics(registry) },
    );
    const bytesBefore = await counter(registry, "kernel_gossip_agent_spool_written_bytes_total");
    const fsyncsBefore = await counter(registry, "kernel_gossip_agent_spool_fsyncs_total");
    const spoolMs: number[] = [];
    const buildMs: number[] = [];
    const spoolCpuMs: number[] = [];
    let frameBytes = 0;
    for (let b = 0; b < batches; b++) {
      const events = mixEvents(BATCH, { seed: 2000 + (b % 20), pods: 110 });
      const t0 = performance.now();
      const batch = buildBatch(b + 1, events, Date.now(), { podTable: true });
      const t1 = performance.now();
      const cpu0 = process.cpuUsage();
      spool.append(batch.seq, batch.frame, events);
      spool.settle(batch.seq);
      const cpu = process.cpuUsage(cpu0);
      const t2 = performance.now();
      buildMs.push(t1 - t0);
      spoolMs.push(t2 - t1);
      spoolCpuMs.push((cpu.user + cpu.system) / 1000);
      frameBytes += batch.frame.length;
    }
    spool.close();
    const bytes = (await counter(registry, "kernel_gossip_agent_spool_written_bytes_total")) - bytesBefore;
    const fsyncs = (await counter(registry, "kernel_gossip_agent_spool_fsyncs_total")) - fsyncsBefore;
    const wall = summarize(spoolMs);
    const build = summarize(buildMs);
    const cpu = summarize(spoolCpuMs);
    return [
      {
        figure: "bytes written per 1,000-event batch",
        value: round(bytes / batches),
        unit: "B",
        floor: round(frameBytes / batches),
        ratio: round(bytes / frameBytes),
        note: `${batches} batches appended and settled; floor = the batch frame itself (what must be kept); the rest is the 13-byte record headers + seq, the settle records and compactions (snapshot of what was reported)`,
      },
      {
        figure: "fsyncs per batch",
        value: round(fsyncs / batches),
        unit: "",
        target: "≤ 1.2 (one per batch + compactions)",
        pass: fsyncs / batches <= 1.2,
        note: "kernel_gossip_agent_spool_fsyncs_total: one per append, two per compaction (temporary file, directory); settles are not fsync'd",
      },
      {
        figure: "append + settle per batch (wall, fsync included)",
        value: round(wall.median),
        p99: round(wall.p99),
        unit: "ms",
        floor: round(build.median),
        ratio: round(wall.median / build.median),
        note: `floor = buildBatch of the same 1,000 events (the link's own per-batch work); the disk under ${tmp.path.split("/").slice(0, 2).join("/")} of this shared machine decides the fsync time`,
      },
      {
        figure: "… CPU (user+sys) per batch",
        value: round(cpu.median),
        p99: round(cpu.p99),
        unit: "ms",
        floor: round(build.median),
        ratio: round(cpu.median / build.median),
        note: "process.cpuUsage around append + settle: the write, the fold of the events into the spool's memory, the compactions",
      },
    ];
  } finally {
    tmp.cleanup();
  }
}

async function pendingStorm(quick: boolean): Promise<BenchRow[]> {
  const rounds = quick ? 10 : 200;
  const tmp = tempDir("spool-pending");
  try {
    const registry = createRegistry({ defaultMetrics: false });
    const spool = Spool.open(
      { dir: tmp.path, node: "node-1", maxBytes: 16 * 1024 * 1024 },
      { log: silentLogger(), metrics: createSpoolMetrics(registry) },
    );
    const clock = new ManualClock();
    // The agent's dedup with its default cooldown (3 min) and key bound (10,000).
    const dedup = createDedup(testAgentOptions(), {
      next: { emit: () => {} },
      clock,
      metrics: createQueueMetrics(registry),
    });
    spool.keepPending(() => ({ held: dedup.heldCounts(), queued: [] }));
    // 1,000 distinct keys: the mix's failures with one pod per event.
    const events = mixEvents(4 * BATCH, { seed: 77, pods: 110 })
      .filter((e) => e.failure)
      .slice(0, BATCH)
      .map((e, i) => ({ ...e, container: `c-${i}` }));
    for (const e of events) dedup.emit(e); // first occurrences pass and open the windows
    const persistMs: number[] = [];
    const persistCpuMs: number[] = [];
    const appendMs: number[] = [];
    let persisted = 0;
    let bytes = 0;
    for (let r = 0; r < rounds; r++) {
      for (const e of events) dedup.emit({ ...e, id: `${e.id}/r${r}` }); // every key repeats
      clock.advance(250);
      const b0 = await counter(registry, "kernel_gossip_agent_spool_written_bytes_total");
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      if (spool.persistPending()) persisted++;
      const cpu = process.cpuUsage(cpu0);
      const t1 = performance.now();
      bytes += (await counter(registry, "kernel_gossip_agent_spool_written_bytes_total")) - b0;
      persistMs.push(t1 - t0);
      persistCpuMs.push((cpu.user + cpu.system) / 1000);
      // The floor, side by side: the same 1,000 events appended as a batch (and settled).
      const batch = buildBatch(r + 1, events, Date.now());
      const t2 = performance.now();
      spool.append(batch.seq, batch.frame, []);
      spool.settle(batch.seq);
      appendMs.push(performance.now() - t2);
    }
    dedup.stop();
    spool.close();
    const wall = summarize(persistMs);
    const cpu = summarize(persistCpuMs);
    const floor = summarize(appendMs);
    return [
      {
        figure: "PENDING record, 1,000 held keys all changing: bytes per flush interval",
        value: round(bytes / rounds),
        unit: "B",
        note: `${persisted} of ${rounds} persists wrote (the state changed every time); a quiet node writes nothing`,
      },
      {
        figure: "… write + fsync per flush interval (wall)",
        value: round(wall.median),
        p99: round(wall.p99),
        unit: "ms",
        floor: round(floor.median),
        ratio: round(wall.median / floor.median),
        note: "floor = appending the same 1,000 events as one batch (write + fsync, settle), side by side",
      },
      {
        figure: "… CPU (user+sys) per flush interval",
        value: round(cpu.median),
        p99: round(cpu.p99),
        unit: "ms",
        note: "heldCounts, the JSON of the record (event bytes cached per event object), the write",
      },
    ];
  } finally {
    tmp.cleanup();
  }
}

async function agentCpu(quick: boolean): Promise<BenchRow[]> {
  const totalMs = quick ? 8_000 : 180_000;
  const warmMs = quick ? 2_000 : 30_000;
  const tmp = tempDir("spool-agents");
  const children: Child[] = [];
  let kube: BenchKube | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    kube = await startBenchKube(tmp.path);
    // Quick runs (a smoke check in `make test`) use a smaller node to stay short.
    const shape = quick
      ? { pods: 30, containers: 60, workloads: 10, namespaces: 5 }
      : { pods: 110, containers: 250, workloads: 40, namespaces: 10 };
    const nodes = [
      await simulateNode(kube, join(tmp.path, "a"), { ...shape, node: "node-a", prefix: "a" }),
      await simulateNode(kube, join(tmp.path, "b"), { ...shape, node: "node-b", prefix: "b" }),
    ];
    for (const n of nodes) await n.tick(SCAN_SECONDS);
    const aggregator = await startAggregator({
      logDir: tmp.path,
      kubeconfig: kube.api.kubeconfigPath,
      tokens: ["tok-a=node-a", "tok-b=node-b"],
    });
    children.push(aggregator.child);
    const agents = [];
    for (const [i, n] of nodes.entries()) {
      const agent = await startAgent({
        logDir: join(tmp.path, i === 0 ? "a" : "b"),
        kubeconfig: kube.api.kubeconfigPath,
        node: n.name,
        aggregatorUrl: aggregator.streamUrl ?? "",
        token: i === 0 ? "tok-a" : "tok-b",
        cgroupRoot: n.cgroupRoot,
        env: i === 0 ? { SPOOL_DIR: join(tmp.path, "spool") } : {},
      });
      children.push(agent.child);
      agents.push(agent);
    }
    ticker = setInterval(() => {
      for (const n of nodes) void n.tick(SCAN_SECONDS);
    }, SCAN_SECONDS * 1000);
    await new Promise((r) => setTimeout(r, warmMs));
    const start = agents.map((a) => runSeconds(a.child.pid));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, totalMs - warmMs));
    const seconds = (performance.now() - t0) / 1000;
    const mcores = agents.map((a, i) => ((runSeconds(a.child.pid) - (start[i] as number)) / seconds) * 1000);
    const m = await scrape(agents[0]?.metricsUrl ?? "");
    const batches = metricValue(m, "kernel_gossip_agent_batches_sent_total");
    const written = metricValue(m, "kernel_gossip_agent_spool_written_bytes_total");
    const fsyncs = metricValue(m, "kernel_gossip_agent_spool_fsyncs_total");
    const fileBytes = metricValue(m, "kernel_gossip_agent_spool_file_bytes");
    const [spooling = Number.NaN, plain = Number.NaN] = mcores;
    return [
      {
        figure: "agent CPU with the spool, at the agent benchmark's load",
        value: round(spooling),
        unit: "mcores",
        floor: round(plain),
        ratio: round(spooling / plain),
        target: "≤ 10 millicores",
        pass: spooling <= 10,
        note: `CPU run time of every thread (schedstat, ns: a quick run's idle floor is below one 10 ms tick) over ${round(seconds)} s after ${warmMs / 1000} s of start-up; floor = the same agent without SPOOL_DIR on a second simulated node of the same shape, side by side (110 pods / 250 containers each, scans every ${SCAN_SECONDS} s, one container in five throttled)`,
      },
      {
        figure: "… that agent's spool file at the end",
        value: round(fileBytes / 1024),
        unit: "KiB",
        note:
          batches > 0
            ? `${round(written / batches)} bytes written and ${round(fsyncs / batches)} fsyncs per batch sent over ${batches} batches (start-up compaction and instance file included)`
            : `no batch sent in ${round(seconds)} s (quick run: no throttling episode opened yet); ${fsyncs} fsyncs at start-up`,
      },
    ];
  } finally {
    if (ticker) clearInterval(ticker);
    for (const c of children.reverse()) await c.stop();
    await kube?.close();
    tmp.cleanup();
  }
}

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  return {
    name: "spool",
    rows: [...(await perBatch(quick)), ...(await pendingStorm(quick)), ...(await agentCpu(quick))],
  };
}

export const spool = { id: "spool", run } satisfies BenchCase;
