// Agent memory and CPU: the real agent process (`cli/main.ts agent`) watching 110 pods /
// 250 containers on its node through the local API server, reading their cgroups from a
// fixture tree every 10 s (counters advancing, one container in five throttled), linked to a
// real aggregator process. RSS from /proc/<pid>/status, CPU from /proc/<pid>/stat.
// Floor: a bare Node 24 process holding one open WebSocket, sampled side by side.
import { join } from "node:path";
import { WebSocketServer } from "ws";
import { type BenchKube, startBenchKube } from "../cluster/kube.ts";
import { simulateNode } from "../cluster/node.ts";
import { agentRuntimeEnv, roleEntry, startAgent, startAggregator } from "../cluster/roles.ts";
import { type Child, REPO_ROOT, startChild, tempDir, waitFor } from "../proc/child.ts";
import { memoryBreakdown } from "../proc/memory.ts";
import { metricValue, scrape } from "../proc/metrics.ts";
import { cpuSeconds, rssBytes } from "../proc/stat.ts";
import { round, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";
import { buildReferenceBundles } from "./reference-bundles.ts";

const MiB = 1024 * 1024;
const NODE = "node-1";
const SCAN_SECONDS = 10;

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const totalMs = quick ? 12_000 : 300_000;
  // CPU is averaged after start-up (initial list, first scans), over the rest of the run.
  const warmMs = quick ? 2_000 : 60_000;
  const tmp = tempDir("agent");
  const children: Child[] = [];
  let kube: BenchKube | undefined;
  let wss: WebSocketServer | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    kube = await startBenchKube(tmp.path);
    const node = await simulateNode(kube, tmp.path, {
      node: NODE,
      pods: 110,
      containers: 250,
      workloads: 40,
      namespaces: 10,
    });
    await node.tick(SCAN_SECONDS);
    const aggregator = await startAggregator({
      logDir: tmp.path,
      kubeconfig: kube.api.kubeconfigPath,
      tokens: [`tok=${NODE}`],
    });
    children.push(aggregator.child);
    const agent = await startAgent({
      logDir: tmp.path,
      kubeconfig: kube.api.kubeconfigPath,
      node: NODE,
      aggregatorUrl: aggregator.streamUrl ?? "",
      token: "tok",
      cgroupRoot: node.cgroupRoot,
    });
    children.push(agent.child);
    // Start-up: spawn → /readyz (pods listed, namespaces loaded), then until the link to the
    // aggregator is up (the agent's own gauge), polled every 25 ms.
    const readyAt = performance.now();
    await waitFor(
      "the agent's link to the aggregator",
      async () =>
        metricValue(await scrape(agent.metricsUrl), "kernel_gossip_agent_link_connected") === 1
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 25, child: agent.child },
    );
    const agentStartMs = agent.readyMs + (performance.now() - readyAt);
    // The floor, side by side: one WebSocket to a server in this process.
    const server = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
    wss = server;
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    let floorOpen = false;
    let floorStartMs = Number.NaN;
    const floorSpawned = performance.now();
    const floor = startChild({
      name: "floor-websocket",
      logDir: tmp.path,
      args: [join(REPO_ROOT, "bench/agent/floor-websocket.mjs"), `ws://127.0.0.1:${port}/`],
      onLine: (line) => {
        if (line === "open" && !floorOpen) {
          floorOpen = true;
          floorStartMs = performance.now() - floorSpawned;
        }
      },
    });
    children.push(floor);
    await waitFor("the floor's WebSocket", () => (floorOpen ? true : undefined), {
      timeoutMs: 10_000,
      child: floor,
    });

    // Where an agent's memory goes: reference processes, sampled at the end like the floor.
    const references: { label: string; child: Child }[] = [];
    const reference = async (label: string, args: string[]) => {
      let up = false;
      const child = startChild({
        name: `reference-${references.length}`,
        logDir: tmp.path,
        args,
        onLine: (line) => {
          if (line === "ready") up = true;
        },
      });
      children.push(child);
      await waitFor(label, () => (up ? true : undefined), { timeoutMs: 30_000, child });
      references.push({ label, child });
    };
    await reference("bare Node 24, nothing imported", [join(REPO_ROOT, "bench/agent/reference-process.mjs")]);
    await reference("floor started from a .ts file (type stripping)", [
      join(REPO_ROOT, "bench/agent/reference-typescript.ts"),
      `ws://127.0.0.1:${port}/`,
    ]);
    await reference("bare Node 24 + import @kubernetes/client-node", [
      join(REPO_ROOT, "bench/agent/reference-process.mjs"),
      "@kubernetes/client-node",
    ]);
    await reference("bare Node 24 + import prom-client, pino, protobufjs, lru-cache", [
      join(REPO_ROOT, "bench/agent/reference-process.mjs"),
      "prom-client",
      "pino",
      "protobufjs/minimal.js",
      "lru-cache",
    ]);
    for (const { label, file } of await buildReferenceBundles(tmp.path)) await reference(label, [file]);

    ticker = setInterval(() => void node.tick(SCAN_SECONDS), SCAN_SECONDS * 1000);
    const t0 = performance.now();
    const agentRss: number[] = [];
    const floorRss: number[] = [];
    const cpuPerInterval: number[] = [];
    let cpuStart: { t: number; agent: number } | undefined;
    let last = { t: performance.now(), cpu: cpuSeconds(agent.child.pid) };
    while (performance.now() - t0 < totalMs) {
      await new Promise((r) => setTimeout(r, quick ? 1_000 : 5_000));
      if (agent.child.process.exitCode !== null) throw new Error(`the agent exited:\n${agent.child.tail()}`);
      const now = performance.now();
      const cpu = cpuSeconds(agent.child.pid);
      agentRss.push(rssBytes(agent.child.pid));
      floorRss.push(rssBytes(floor.pid));
      if (now - t0 >= warmMs) {
        cpuStart ??= { t: last.t, agent: last.cpu };
        cpuPerInterval.push(((cpu - last.cpu) / ((now - last.t) / 1000)) * 1000);
      }
      last = { t: now, cpu };
    }
    const seconds = (last.t - (cpuStart?.t ?? last.t)) / 1000;
    const millicores = cpuStart && seconds > 0 ? ((last.cpu - cpuStart.agent) / seconds) * 1000 : Number.NaN;
    const referenceRows = references.map(({ label, child }) => ({
      figure: `… ${label}`,
      value: round(rssBytes(child.pid) / MiB),
      unit: "MiB",
      note: "reference process for the breakdown (VmRSS at the end of the run)",
    }));
    const metrics = await scrape(agent.metricsUrl);
    const watched = metricValue(metrics, "kernel_gossip_agent_pods_watched");
    const located = metricValue(metrics, "kernel_gossip_agent_cgroup_containers");
    const delivered = metricValue(metrics, "kernel_gossip_agent_events_delivered_total");
    const connected = metricValue(metrics, "kernel_gossip_agent_link_connected");
    const rssFinal = (agentRss[agentRss.length - 1] ?? Number.NaN) / MiB;
    const floorFinal = (floorRss[floorRss.length - 1] ?? Number.NaN) / MiB;
    const rss = summarize(agentRss.map((b) => b / MiB));
    const cpuDist = summarize(cpuPerInterval);
    const span = quick ? `${totalMs / 1000} s (quick; the full run is 5 min)` : "5 min";
    return {
      name: "agent memory & CPU",
      rows: [
        {
          figure: `agent RSS after ${span}`,
          value: round(rssFinal),
          p99: round(rss.p99),
          unit: "MiB",
          floor: round(floorFinal),
          ratio: round(rssFinal / floorFinal),
          target: "≤ 64 MiB and ≤ floor + 25 MiB",
          pass: rssFinal <= 64 && rssFinal <= floorFinal + 25,
          note: `VmRSS of the agent (${roleEntry().label}, ${agentRuntimeEnv().label}) at the end (p99 over ${agentRss.length} samples); floor = bare Node 24 + one ws WebSocket (${round(floorFinal)} MiB); agent − floor = ${round(rssFinal - floorFinal)} MiB; ${memoryBreakdown(metrics)}`,
        },
        ...referenceRows,
        {
          figure: "agent start → ready and linked",
          value: round(agentStartMs),
          unit: "ms",
          floor: round(floorStartMs),
          ratio: round(agentStartMs / floorStartMs),
          target: "≤ 1 s",
          pass: agentStartMs <= 1000,
          note: `spawn of the agent process (${roleEntry().label}) → /readyz 200 (this node's pods listed, namespaces loaded, cgroup layout detected) and kernel_gossip_agent_link_connected 1, polled every 25 ms (/readyz after ${round(agent.readyMs)} ms); floor = spawn → open WebSocket of the bare Node 24 floor process (${round(floorStartMs)} ms)`,
        },
        {
          figure: "agent CPU at steady state",
          value: round(millicores),
          p99: round(cpuDist.p99),
          unit: "mcores",
          target: "≤ 10 millicores",
          pass: millicores <= 10,
          note: `(utime+stime) from /proc/<pid>/stat over ${round(seconds)} s after ${warmMs / 1000} s of start-up; p99 over ${cpuDist.n} intervals of ${quick ? 1 : 5} s; scans every ${SCAN_SECONDS} s`,
        },
        {
          figure: "pods watched / containers located",
          value: watched,
          unit: "pods",
          note: `the agent's own metrics: ${watched} pods watched, ${located} containers located (of 110 / 250), link connected=${connected}, ${delivered} events delivered`,
        },
      ],
    };
  } finally {
    if (ticker) clearInterval(ticker);
    for (const child of children.reverse()) await child.stop();
    wss?.close();
    await kube?.close();
    tmp.cleanup();
  }
}

export const agent = { id: "agent", run } satisfies BenchCase;
