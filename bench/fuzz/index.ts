// Issue 12's fuzz run as a benchmark: what N hostile frames (test/e2e/fuzz-frames.ts — events
// about real pods with made-up containers, made-up pods, long ids, out-of-range values, garbage
// and truncated frames) cost the real aggregator process in resident memory, and how fast a
// real agent's crash loop is written afterwards.
//
// Floor, side by side in the same run: a second aggregator, started the same way (the image's
// entry point, the Deployment's NODE_OPTIONS, the same options), fed the same number of
// well-formed frames of the same event mix (its own pods, so the two never write the same
// objects), chunk by chunk interleaved with the hostile one so both see the same machine load;
// then the same crash-loop trials through its own real agent.
//
// Both aggregators run with their defaults (--max-pending-bytes 64 MiB) and node binding on
// (every event's pod checked with the API server), as deployed.
import { join } from "node:path";
import {
  type FuzzPod,
  type FuzzTarget,
  hostileFrame,
  prng,
  rssBytes,
  sendFrames,
  wellFormedFrame,
} from "../../test/e2e/fuzz-frames.ts";
import { type BenchKube, startBenchKube, watch } from "../cluster/kube.ts";
import { type SimulatedNode, simulateNode } from "../cluster/node.ts";
import { crashLoopStatus } from "../cluster/pods.ts";
import { type RunningRole, startAgent, startAggregator } from "../cluster/roles.ts";
import { type Child, tempDir, waitFor } from "../proc/child.ts";
import { metricValue, scrape } from "../proc/metrics.ts";
import { round, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";

const CHUNKS = 8;
const TRIAL_TIMEOUT_MS = 30_000;

interface Side {
  label: "hostile" | "floor";
  aggregator: RunningRole;
  target: FuzzTarget;
  random: () => number;
  next: typeof hostileFrame;
  /** The node whose real agent's crash loops are timed, and its pods (one per trial). */
  agentNode: SimulatedNode;
  rss: number[];
  sent: number;
  latencies: number[];
  timeouts: number;
}

/** Frames the aggregator has read (batches and refused frames, not Hellos). */
async function framesCounted(metricsUrl: string): Promise<number> {
  const text = await scrape(metricsUrl);
  let n = 0;
  for (const m of text.matchAll(/^kernel_gossip_aggregator_frames_received_total\{type="(\w+)"\} (\S+)$/gm))
    if (m[1] !== "hello") n += Number(m[2]);
  return n;
}

const mib = (bytes: number): number => round(bytes / 2 ** 20);

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const frames = quick ? 2_000 : 100_000;
  const trials = quick ? 3 : 20;
  const tmp = tempDir("fuzz");
  const children: Child[] = [];
  const stops: (() => void)[] = [];
  let kube: BenchKube | undefined;
  try {
    kube = await startBenchKube(tmp.path);
    const node = (name: string, pods: number, prefix: string) =>
      simulateNode(kube as BenchKube, join(tmp.path, name), {
        node: name,
        pods,
        containers: pods,
        workloads: pods,
        namespaces: Math.min(pods, 4),
        prefix,
      });
    // Fuzzed nodes (their pods are what the events name) and the agents' nodes.
    const fuzzedH = await node("node-a", 10, "fuzz-h");
    const fuzzedF = await node("node-d", 10, "fuzz-f");
    const agentH = await node("node-b", trials, "lat-h");
    const agentF = await node("node-c", trials, "lat-f");
    const env = { VERIFY_PODS: "true", MAX_EVENTS_PER_SECOND: "1000000" };
    const sides: Side[] = [];
    for (const [label, fuzzed, agentNode, fuzzToken, agentToken] of [
      ["hostile", fuzzedH, agentH, "tok-a", "tok-b"],
      ["floor", fuzzedF, agentF, "tok-d", "tok-c"],
    ] as const) {
      const aggregator = await startAggregator({
        logDir: tmp.path,
        kubeconfig: kube.api.kubeconfigPath,
        tokens: [`${fuzzToken}=${fuzzed.name}`, `${agentToken}=${agentNode.name}`],
        name: `aggregator-${label}`,
        env,
      });
      children.push(aggregator.child);
      const agent = await startAgent({
        logDir: join(tmp.path, agentNode.name),
        kubeconfig: kube.api.kubeconfigPath,
        node: agentNode.name,
        aggregatorUrl: aggregator.streamUrl ?? "",
        token: agentToken,
        cgroupRoot: agentNode.cgroupRoot,
        env: { SPOOL_DIR: join(tmp.path, agentNode.name, "spool") },
      });
      children.push(agent.child);
      await waitFor(
        `the ${label} side's agent linked to its aggregator`,
        async () =>
          metricValue(await scrape(agent.metricsUrl), "kernel_gossip_agent_link_connected") === 1
            ? true
            : undefined,
        { timeoutMs: 30_000, child: agent.child },
      );
      const port = Number(new URL(aggregator.streamUrl ?? "").port);
      const pods: FuzzPod[] = fuzzed.pods.map((p) => ({ namespace: p.namespace, name: p.name, uid: p.uid }));
      sides.push({
        label,
        aggregator,
        target: { port, token: fuzzToken, node: fuzzed.name, pods },
        random: prng(12),
        next: label === "hostile" ? hostileFrame : wellFormedFrame,
        agentNode,
        rss: [rssBytes(aggregator.child.pid)],
        sent: 0,
        latencies: [],
        timeouts: 0,
      });
    }

    // The frames, chunk by chunk, the two sides interleaved.
    for (let chunk = 0; chunk < CHUNKS; chunk++) {
      for (const side of sides) {
        await sendFrames(side.target, side.random, frames / CHUNKS, side.next);
        side.sent += frames / CHUNKS;
        await waitFor(
          `the ${side.label} aggregator to count its ${side.sent} frames`,
          async () => ((await framesCounted(side.aggregator.metricsUrl)) >= side.sent ? true : undefined),
          { timeoutMs: 60_000, intervalMs: 50, child: side.aggregator.child },
        );
        side.rss.push(rssBytes(side.aggregator.child.pid));
      }
    }

    // Afterwards: each side's real agent sees crash loops (one new pod per trial, alternating sides).
    const pending = new Map<string, (at: number) => void>();
    const kwWatch = watch(kube, "/apis/kernel.gossip.io/v1alpha1/kernelwhispers", (type, obj) => {
      if (type === "DELETED") return;
      const spec = obj.spec as { workload?: { name?: string }; signal?: string } | undefined;
      const seen = spec?.signal === "CrashLoopBackOff" ? pending.get(spec.workload?.name ?? "") : undefined;
      seen?.(performance.now());
    });
    stops.push(kwWatch.stop);
    await kwWatch.started;
    const startedAt = `${new Date(Date.now() - 60_000).toISOString().slice(0, 19)}Z`;
    for (let i = 0; i < trials; i++) {
      for (const side of sides) {
        const pod = side.agentNode.pods[i];
        if (!pod) continue;
        const t0 = performance.now();
        const seen = new Promise<number | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), TRIAL_TIMEOUT_MS);
          pending.set(pod.workload, (at) => {
            clearTimeout(timer);
            resolve(at);
          });
        });
        await kube.request(
          "PATCH",
          `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/status`,
          { status: crashLoopStatus(pod, startedAt, 1) },
          "application/merge-patch+json",
        );
        const at = await seen;
        pending.delete(pod.workload);
        if (at === undefined) side.timeouts++;
        else side.latencies.push(at - t0);
      }
    }

    const [h, f] = sides as [Side, Side];
    const quarter = (s: Side) => (s.rss[CHUNKS] ?? 0) - (s.rss[(CHUNKS * 3) / 4] ?? 0);
    const lh = summarize(h.latencies);
    const lf = summarize(f.latencies);
    const timeouts = h.timeouts + f.timeouts;
    const n = frames.toLocaleString("en-US");
    const path = (s: Side) => s.rss.map(mib).join(" → ");
    return {
      name: "hostile fuzz",
      rows: [
        {
          figure: `aggregator RSS after ${n} hostile frames`,
          value: mib(h.rss[CHUNKS] ?? 0),
          unit: "MiB",
          floor: mib(f.rss[CHUNKS] ?? 0),
          ratio: round((h.rss[CHUNKS] ?? 0) / (f.rss[CHUNKS] ?? 1)),
          note: `RSS at start and after each ${(frames / CHUNKS).toLocaleString("en-US")} frames: ${path(h)}; floor (${n} well-formed frames of the same mix, same build and options, side by side): ${path(f)}`,
        },
        {
          figure: "… RSS growth over the last quarter of the frames",
          value: mib(quarter(h)),
          unit: "MiB",
          note: `floor ${mib(quarter(f))} MiB; RSS read once the aggregator counted every frame sent (not after a pause)`,
        },
        {
          figure: "real agent's crash loop → KernelWhisper, after the fuzz",
          value: round(lh.median),
          p99: round(lh.p99),
          unit: "ms",
          floor: round(lf.median),
          ratio: round(lh.median / lf.median),
          target: "p99 ≤ 10 s (issue 12: within seconds)",
          pass: timeouts === 0 && lh.n > 0 && lh.p99 <= 10_000,
          note: `${lh.n} trials per side${timeouts ? `, ${timeouts} not seen within ${TRIAL_TIMEOUT_MS / 1000} s` : ""}: status PATCH (as the kubelet) → the real agent's pod watch → its aggregator → the whisper on a watch; floor = the same through the aggregator fed well-formed frames (floor p99 ${round(lf.p99)} ms)`,
        },
      ],
    };
  } finally {
    for (const stop of stops) stop();
    for (const child of children.reverse()) await child.stop();
    await kube?.close();
    tmp.cleanup();
  }
}

export const fuzz = { id: "fuzz", run } satisfies BenchCase;
