// The fan-in measurement both fan-in cases share: `agents` simulated agents — real WebSocket
// clients in `generators` load-generator processes, each sending Hello then one real
// protobuf Batch every 10 s — spread round-robin over `replicas` real aggregator processes
// (like a Service) that write to one local API server. Measured per replica: RSS and CPU
// from /proc at steady state; for the whole run: ack latency per batch kind (ADR 0011),
// write requests the API server served, and whether the whispers' counts equal what the
// acked batches carried once everything is written (exact counts).
import { join } from "node:path";
import { EPISODES_MAX } from "../../aggregator/emit/episodes.ts";
import { type BenchKube, startBenchKube } from "../cluster/kube.ts";
import { aggregatorNodeOptions, type RunningRole, roleEntry, startAggregator } from "../cluster/roles.ts";
import { type Child, REPO_ROOT, startChild, tempDir, waitFor } from "../proc/child.ts";
import { memoryBreakdown } from "../proc/memory.ts";
import { histogramQuantile, metricValue } from "../proc/metrics.ts";
import { sampleUsage, type Usage } from "../proc/stat.ts";
import { round, summarize } from "../stats.ts";
import type { BenchRow } from "../types.ts";
import type { BatchKind, LoadOptions, LoadStats } from "./load.ts";

const MiB = 1024 * 1024;
export const INTERVAL_MS = 10_000;
const EVENTS_PER_BATCH = 10;
/** The aggregator's default --object-min-interval: a counted occurrence's ack waits up to it. */
const OBJECT_MIN_INTERVAL_MS = 10_000;

export interface FanInSetup {
  agents: number;
  replicas: number;
  generators: number;
  windowMs: number;
  quick: boolean;
  /** Cluster-wide --write-qps (each replica takes its share); burst is twice it. */
  writeQps: number;
  /** Row label, e.g. "1,000 agents". */
  label: string;
}

const KIND_TARGET_MS: Record<BatchKind, number> = {
  throttle: 2_000,
  birth: 2_000,
  failure: OBJECT_MIN_INTERVAL_MS + 2_000,
};
const KIND_LABEL: Record<BatchKind, string> = {
  throttle: "throttle samples only",
  birth: "with a birth (no failure)",
  failure: "with a failure/OOM",
};

/** Write requests the API server served, by resource, from its counters. */
function writes(counters: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(counters)) {
    const [verb, resource] = key.split(" ") as [string, string];
    if (!["create", "patch", "update", "delete"].includes(verb)) continue;
    const r = resource.split("/")[0] as string;
    out[r] = (out[r] ?? 0) + n;
  }
  return out;
}

/**
 * /metrics of a replica with a generous deadline, retried: with thousands of agents on a
 * loaded 2-core machine (load average above 20 in this session) a replica can take longer
 * than scrape()'s 5 s to answer.
 */
async function scrapeRetrying(url: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
      return await res.text();
    } catch (err) {
      if (attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

const diff = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));

export async function runFanIn(setup: FanInSetup): Promise<BenchRow[]> {
  const { agents, replicas, generators, windowMs, quick, writeQps } = setup;
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
    const aggregators: RunningRole[] = [];
    for (let r = 0; r < replicas; r++) {
      const aggregator = await startAggregator({
        name: `aggregator-${r}`,
        logDir: tmp.path,
        kubeconfig: kube.api.kubeconfigPath,
        // One unbound static token: the simulated agents name their node in Hello.
        tokens: ["fan-in"],
        args: ["--write-qps", String(writeQps), "--write-burst", String(2 * writeQps)],
        env: { POD_NAME: `aggregator-bench-${r}` },
      });
      children.push(aggregator.child);
      aggregators.push(aggregator);
    }
    // Every replica counts the others before the load starts (write-budget Leases).
    for (const a of aggregators) {
      await waitFor(
        `${a.child.name} to count ${replicas} replica(s) in the write budget`,
        async () =>
          metricValue(
            await scrapeRetrying(a.metricsUrl),
            "kernel_gossip_aggregator_write_budget_replicas",
          ) === replicas
            ? true
            : undefined,
        { timeoutMs: 60_000, intervalMs: 500, child: a.child },
      );
    }
    const urls = aggregators.map((a) => a.streamUrl ?? "");
    const ready: boolean[] = [];
    const stats: LoadStats[] = [];
    const loads: Child[] = [];
    const per = Math.ceil(agents / generators);
    for (let g = 0; g < generators; g++) {
      const options: LoadOptions = {
        // Rotated so generator g's first agent lands on replica g % replicas: agent i of the
        // whole run goes to replica i % replicas.
        urls: urls.map((_, k) => urls[(k + g * per) % urls.length] as string),
        token: "fan-in",
        agents: Math.min(per, agents - g * per),
        first: g * per,
        nodePrefix: "node-",
        eventsPerBatch: EVENTS_PER_BATCH,
        intervalMs: INTERVAL_MS,
        rampConcurrency: 100,
        drainMs: 60_000,
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
        timeoutMs: 180_000,
        child: load,
      });
    }
    let connected = 0;
    for (const a of aggregators)
      connected += metricValue(
        await scrapeRetrying(a.metricsUrl),
        "kernel_gossip_aggregator_connected_agents",
      );
    // One full interval so every agent has sent at least one batch, then the window.
    await new Promise((r) => setTimeout(r, quick ? 2_000 : INTERVAL_MS));
    const before = await Promise.all(aggregators.map((a) => scrapeRetrying(a.metricsUrl)));
    const eventsBefore = before.map((t) => metricValue(t, "kernel_gossip_aggregator_events_received_total"));
    const windowFrom = Date.now();
    const writesBefore = writes(await kube.counters());
    const t0 = performance.now();
    const usages: Usage[] = await Promise.all(
      aggregators.map((a) => sampleUsage(a.child.pid, { durationMs: windowMs, everyMs: 1_000 })),
    );
    const writesInWindow = diff(writesBefore, writes(await kube.counters()));
    const windowSeconds = (performance.now() - t0) / 1000;
    const windowTo = Date.now();
    const after = await Promise.all(aggregators.map((a) => scrapeRetrying(a.metricsUrl)));
    const eventsPerSecond =
      after.reduce(
        (s, text, i) =>
          s + metricValue(text, "kernel_gossip_aggregator_events_received_total") - (eventsBefore[i] ?? 0),
        0,
      ) / windowSeconds;
    const pendingAtEnd = after.map((t) => metricValue(t, "kernel_gossip_aggregator_pending_objects"));

    // Stop sending; each generator waits for the acks still due, then reports.
    await Promise.all(loads.map((l) => l.stop(90_000)));
    // 'exit' can come before the last stdout chunk is read.
    for (const [g, load] of loads.entries()) {
      await waitFor(`load generator ${g}'s report`, () => (stats[g] ? true : undefined), {
        timeoutMs: 15_000,
      }).catch(() => {
        throw new Error(`load generator ${g} did not report:\n${load.tail()}`);
      });
    }
    // Then every pending write (throttle state is acked before it is written) reaches the API.
    // A replica that does not get there in time is reported, not fatal: the other rows stand.
    const unflushed: string[] = [];
    for (const a of aggregators) {
      try {
        await waitFor(
          `${a.child.name} to write everything pending`,
          async () =>
            metricValue(await scrapeRetrying(a.metricsUrl), "kernel_gossip_aggregator_pending_objects") === 0
              ? true
              : undefined,
          { timeoutMs: 120_000, intervalMs: 1_000, child: a.child },
        );
      } catch {
        const text = await scrapeRetrying(a.metricsUrl).catch(() => "");
        unflushed.push(
          `${a.child.name}: ${metricValue(text, "kernel_gossip_aggregator_pending_objects")} objects pending (${metricValue(text, "kernel_gossip_aggregator_retrying_objects")} retrying) 120 s after the drain`,
        );
      }
    }
    const whispers = (await kube.request("GET", "/apis/kernel.gossip.io/v1alpha1/kernelwhispers")) as {
      items: { spec: { signal: string }; status?: { count?: number; episodes?: string } }[];
    };
    const inCluster: Record<string, number> = {};
    for (const w of whispers.items)
      inCluster[w.spec.signal] = (inCluster[w.spec.signal] ?? 0) + (w.status?.count ?? 0);
    // status.episodes keeps the EPISODES_MAX most recently seen (aggregator/emit/episodes.ts): a
    // sample of an episode forgotten there counts it again.
    const recorded = whispers.items
      .filter((w) => w.spec.signal === "CPUThrottling")
      .map((w) => (w.status?.episodes ? w.status.episodes.split(",").length : 0));
    const fullRecords = recorded.filter((n) => n >= EPISODES_MAX).length;

    const total = {
      batches: stats.reduce((s, x) => s + x.batchesSent, 0),
      acks: stats.reduce((s, x) => s + x.acks, 0),
      unacked: stats.reduce((s, x) => s + x.unacked, 0),
      closes: stats.reduce((s, x) => s + x.closes, 0),
      rejects: stats.reduce((s, x) => s + Object.values(x.rejects).reduce((a, b) => a + b, 0), 0),
    };
    const acked: Record<string, number> = {};
    for (const x of stats)
      for (const [k, v] of Object.entries(x.countedAcked)) acked[k] = (acked[k] ?? 0) + v;

    const rows: BenchRow[] = [];
    const perReplica = replicas > 1 ? " per replica" : "";
    const rssP99 = usages.map((u) => summarize(u.rss.map((b) => b / MiB)).p99);
    const rssMedian = usages.map((u) => summarize(u.rss.map((b) => b / MiB)).median);
    const worst = rssP99.indexOf(Math.max(...rssP99));
    rows.push({
      figure: `aggregator RSS${perReplica}, ${setup.label}`,
      value: round(rssMedian[worst] ?? Number.NaN),
      p99: round(rssP99[worst] ?? Number.NaN),
      unit: "MiB",
      target: "≤ 256 MiB",
      pass: Math.max(...rssP99) <= 256,
      note: `${replicas > 1 ? `the replica with the highest p99 of ${replicas} (p99 each: ${rssP99.map((v) => round(v)).join(", ")} MiB); ` : ""}VmRSS every 1 s over ${round(windowSeconds)} s at steady state; aggregator started through ${roleEntry().label} with ${aggregatorNodeOptions().label}; ${memoryBreakdown(after[worst] ?? "")}; objects with writes pending at the end of the window: ${pendingAtEnd.join(", ")}`,
    });
    const cores = usages.map((u) => u.cores);
    rows.push({
      figure: `aggregator CPU${perReplica}, ${setup.label}`,
      value: round(Math.max(...cores)),
      unit: "cores",
      target: "≤ 0.2 core",
      pass: Math.max(...cores) <= 0.2,
      note: `${replicas > 1 ? `the busiest of ${replicas} replicas (each: ${cores.map((c) => round(c)).join(", ")}); ` : ""}(utime+stime)/wall from /proc over the same window; each agent sends a ${EVENTS_PER_BATCH}-event Batch every ${INTERVAL_MS / 1000} s (${round((agents * EVENTS_PER_BATCH * 1000) / INTERVAL_MS)} events/s in all, ${round(eventsPerSecond)} received in the window), load generators in ${generators} separate process(es)`,
    });
    for (const kind of ["throttle", "birth", "failure"] as const) {
      const all = stats.flatMap((x) => x.ackLatencyMs[kind]);
      // Steady state: the batches sent within the measurement window (after a full interval
      // of load; the cold start — every object new, two writes each — is only in `all`).
      const lat = stats.flatMap((x) =>
        x.ackLatencyMs[kind].filter((_, i) => {
          const at = x.ackSentAtMs[kind][i] ?? 0;
          return at >= windowFrom && at <= windowTo;
        }),
      );
      // Births are 0.2 % of events: a quick run may have none; a full run always has some.
      if (lat.length === 0 && quick) continue;
      const s = summarize(lat);
      const whole = summarize(all);
      rows.push({
        figure: `batch ack latency, ${KIND_LABEL[kind]}`,
        value: round(s.median),
        p99: round(s.p99),
        unit: "ms",
        target: `p99 ≤ ${KIND_TARGET_MS[kind].toLocaleString("en-US")} ms`,
        pass: lat.length > 0 && s.p99 <= KIND_TARGET_MS[kind],
        note: `${lat.length} batches of this kind sent in the window and acked (send → Ack); every batch of the run, the cold start included (${all.length}): p50 ${round(whole.median)} ms, p99 ${round(whole.p99)} ms, max ${round(Math.max(0, ...all))} ms; the load generators' own event-loop delay, part of every figure: p50 ${stats.map((x) => round(x.loopDelayMs.p50)).join("/")} ms, p99 ${stats.map((x) => round(x.loopDelayMs.p99)).join("/")} ms; ${connected} agents connected at the start of the window; ${total.batches} batches sent, ${total.acks} acked, ${total.unacked} unacked after a 60 s drain, ${total.rejects} rejects, ${total.closes} closes`,
      });
    }
    // Where a counted ack's time goes, from the replicas' own histograms over the window: from
    // an object's oldest unwritten change to the request that writes it, and the token wait.
    const quantile = (i: number, name: string, labels: Record<string, string>, q: number) =>
      histogramQuantile(after[i] ?? "", name, labels, q, before[i]);
    const perReplica3 = (name: string, labels: Record<string, string>, q: number, scale = 1) =>
      aggregators.map((_, i) => round(quantile(i, name, labels, q) * scale)).join("/");
    const LAG = "kernel_gossip_aggregator_write_lag_seconds";
    const TOKEN = "kernel_gossip_aggregator_write_token_wait_seconds";
    const lagged = (lane: string) =>
      `${lane} p50 ${perReplica3(LAG, { lane }, 0.5)} s, p99 ${perReplica3(LAG, { lane }, 0.99)} s (token wait p50 ${perReplica3(TOKEN, { lane }, 0.5)} s, p99 ${perReplica3(TOKEN, { lane }, 0.99)} s)`;
    const requests = (outcome: string) =>
      aggregators
        .map(
          (_, i) =>
            metricValue(after[i] ?? "", "kernel_gossip_aggregator_cr_writes_total", { outcome }) -
            metricValue(before[i] ?? "", "kernel_gossip_aggregator_cr_writes_total", { outcome }),
        )
        .join("/");
    const firstLag = (q: number) =>
      Math.max(...aggregators.map((_, i) => quantile(i, LAG, { lane: "first" }, q)));
    const DURATION = "kernel_gossip_aggregator_cr_write_duration_seconds";
    rows.push({
      figure: `write lag of counted objects, ${setup.label}`,
      value: round(firstLag(0.5)),
      p99: round(firstLag(0.99)),
      unit: "s",
      note: `in the window: oldest unwritten change → the request that writes it, per lane${replicas > 1 ? " (per replica, separated by /)" : ""}: ${["first", "retry", "birth", "state"].map(lagged).join("; ")}; write requests: ${requests("success")} succeeded, ${requests("conflict")} conflicts (409), ${requests("throttled")} throttled; KernelWhisper request duration p50 ${perReplica3(DURATION, { kind: "KernelWhisper" }, 0.5, 1000)} ms, p99 ${perReplica3(DURATION, { kind: "KernelWhisper" }, 0.99, 1000)} ms`,
    });
    if (replicas > 1) {
      // Whisper requests only (births never conflict): how many a 409 answered, and what the
      // whisper watch (aggregator/emit/whisper-watch.ts) took in instead.
      const inWindow = (i: number, name: string, labels: Record<string, string>) =>
        metricValue(after[i] ?? "", name, labels) - metricValue(before[i] ?? "", name, labels);
      const each = (name: string, labels: Record<string, string>) =>
        aggregators.map((_, i) => inWindow(i, name, labels));
      const WRITES = "kernel_gossip_aggregator_cr_writes_total";
      const EVENTS = "kernel_gossip_aggregator_whisper_watch_events_total";
      const all = each(WRITES, { kind: "KernelWhisper" });
      const conflicts = each(WRITES, { kind: "KernelWhisper", outcome: "conflict" });
      const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      const share = (100 * sumOf(conflicts)) / Math.max(1, sumOf(all));
      rows.push({
        figure: `KernelWhisper requests answered 409, ${setup.label}`,
        value: round(share),
        unit: "%",
        note: `in the window, per replica (/): ${conflicts.join("/")} conflicts of ${all.join("/")} KernelWhisper write requests (spec and status applies); whisper watch events taken in ${each(EVENTS, { result: "merged" }).join("/")}, kept until a request's answer ${each(EVENTS, { result: "deferred" }).join("/")}, not newer ${each(EVENTS, { result: "not_newer" }).join("/")}, not held ${each(EVENTS, { result: "not_held" }).join("/")}; status writes that carried a watched resourceVersion (conflicts avoided) ${each("kernel_gossip_aggregator_whisper_watch_conflicts_avoided_total", {}).join("/")}; watch restarts ${each("kernel_gossip_aggregator_whisper_watch_restarts_total", {}).join("/")}`,
      });
    }
    // The budget covers the custom-resource writes and the replicas' journal writes (the only
    // ConfigMaps written here, ADR 0014); pod Events (one per new whisper) and Leases are
    // listed beside them.
    const crWrites =
      (writesInWindow.kernelwhispers ?? 0) +
      (writesInWindow.podbirthcertificates ?? 0) +
      (writesInWindow.configmaps ?? 0);
    const crRate = crWrites / windowSeconds;
    rows.push({
      figure: `API custom-resource writes, all replicas, ${setup.label}`,
      value: round(crRate),
      unit: "writes/s",
      target: `≤ ${writeQps}/s (cluster-wide --write-qps)`,
      // The bucket allows its burst on top of the rate; a window this long averages it out.
      pass: crRate <= writeQps * 1.05 + (2 * writeQps) / windowSeconds,
      note: `create/patch/update/delete requests the local API server served in the window, by resource: ${Object.entries(
        writesInWindow,
      )
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `${r} ${round(n / windowSeconds)}/s`)
        .join(
          ", ",
        )} (configmaps: the replicas' journals, inside the budget; pod Events: one per new whisper; leases: the write-budget and GC Leases — both outside the budget); ${replicas} replica(s) each writing at most ${round(writeQps / replicas)}/s; journal at the end of the window (per replica): ${after.map((t) => `${metricValue(t, "kernel_gossip_aggregator_journal_entries")} entries, ${round(metricValue(t, "kernel_gossip_aggregator_journal_bytes") / 1024)} KiB`).join("; ")}, fallbacks ${after.map((t) => metricValue(t, "kernel_gossip_aggregator_journal_fallbacks_total")).join("/")}; journal write request p50 ${perReplica3("kernel_gossip_aggregator_journal_write_duration_seconds", {}, 0.5, 1000)} ms, p99 ${perReplica3("kernel_gossip_aggregator_journal_write_duration_seconds", {}, 0.99, 1000)} ms, its token wait p99 ${perReplica3("kernel_gossip_aggregator_write_token_wait_seconds", { lane: "journal" }, 0.99, 1000)} ms`,
    });
    const signals = [...new Set([...Object.keys(acked), ...Object.keys(inCluster)])].sort();
    const exact =
      unflushed.length === 0 &&
      total.unacked === 0 &&
      signals.every((k) => (acked[k] ?? 0) === (inCluster[k] ?? 0));
    rows.push({
      figure: `exact counts after the drain, ${setup.label}`,
      value: Object.values(inCluster).reduce((a, b) => a + b, 0),
      unit: "counted",
      target: "= carried by acked batches",
      pass: exact,
      note: `whisper status.count summed per signal (cluster) vs what every acked batch carried: ${signals
        .map((k) => `${k} ${inCluster[k] ?? 0} / ${acked[k] ?? 0}`)
        .join(
          ", ",
        )}; ${total.unacked} batches never acked; ${whispers.items.length} whispers; ${fullRecords} of ${recorded.length} CPUThrottling whispers hold the full ${EPISODES_MAX} episodes (median ${[...recorded].sort((a, b) => a - b)[recorded.length >> 1] ?? 0}): older episodes are forgotten, a later sample of one counts it again${unflushed.length ? `; NOT all written: ${unflushed.join("; ")}` : ""}`,
    });
    return rows;
  } finally {
    for (const child of children.reverse()) await child.stop();
    await kube?.close();
    tmp.cleanup();
  }
}
