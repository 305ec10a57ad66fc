// On this machine's real cgroup v1 (root only): loads under real CFS quotas, read by the real
// sampler, their throttle events encoded to protobuf bytes and decoded as the aggregator does,
// folded into a KernelWhisper's state and turned into its recommendation (ADR 0012).
//
// The machine is shared and loaded: contention lowers what a load gets, but a busy thread
// stays runnable (it never blocks), and a duty-cycle thread still blocks for the same 175 ms;
// the per-thread estimate removes waiting of either kind, so the ranges hold under load.
import { randomUUID } from "node:crypto";
import { cpus } from "node:os";
import { afterAll, describe, expect, it, vi } from "vitest";
import { WhisperState } from "../../aggregator/emit/whisper.ts";
import { signalFacts } from "../../aggregator/pipeline/from-wire.ts";
import { DEFAULT_THRESHOLDS } from "../../aggregator/recommend/severity.ts";
import { systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { type WireEvent, wire } from "../../shared/proto.ts";
import type { PodView } from "../types/index.ts";
import { detectLayout } from "./layout.ts";
import { createCgroupMetrics } from "./metrics.ts";
import { CgroupSampler } from "./sampler.ts";
import { hexId } from "./testing/build.ts";
import { ListSink, MapPodDirectory } from "./testing/harness.ts";
import { type Hierarchy, LOADS, RealCgroups, realCgroupProblem } from "./testing/real-cgroups.ts";

/** CFS throttling is read from cgroup v1 cpu and cpuacct (the machine's cgroup2 mount has no cpu controller). */
const HIERARCHIES: Hierarchy[] = ["cpu", "cpuacct"];
const problem = realCgroupProblem(HIERARCHIES);
if (problem) console.warn(`real-cgroup demand tests skipped: ${problem}`);
const NODE_CPUS = cpus().length;
const trees: RealCgroups[] = [];
afterAll(async () => {
  for (const t of trees) await t.close();
});

interface Case {
  load: keyof typeof LOADS;
  /** Container quota in cores (undefined: none of its own). */
  quota?: number;
  /** Pod cgroup quota in cores (undefined: none). */
  podQuota?: number;
}

interface Outcome {
  samples: number[];
  events: WireEvent[];
  recommendation: ReturnType<WhisperState["recommendation"]>;
  evidence: WhisperState["evidence"];
  kernel: string;
}

/** Runs the load, scans every 2 s until 8 demand estimates left the agent, and recommends. */
async function measure(name: string, c: Case): Promise<Outcome> {
  const tree = await RealCgroups.create(name, HIERARCHIES);
  trees.push(tree);
  const uid = randomUUID();
  const id = hexId();
  const podRel = `kubepods/burstable/pod${uid}`;
  const rel = `${podRel}/${id}`;
  await tree.make(rel);
  if (c.quota !== undefined) await tree.quota(rel, c.quota);
  if (c.podQuota !== undefined) await tree.quota(podRel, c.podQuota);
  tree.run(rel, LOADS[c.load]);
  const pod: PodView = {
    uid,
    qosClass: "Burstable",
    ref: { uid, namespace: "kgtest", name: `${name}-0`, node: "this-node", qosClass: "Burstable" },
    containers: [{ name: "app", containerId: `containerd://${id}`, running: true, restartCount: 0 }],
  };
  const pods = new MapPodDirectory();
  pods.set(pod);
  const sink = new ListSink();
  const layout = await detectLayout(tree.root);
  expect(layout).toMatchObject({ version: 1, driver: "cgroupfs" });
  const sampler = new CgroupSampler({
    root: tree.root,
    layout,
    pods,
    sink,
    clock: systemClock,
    log: silentLogger(),
    metrics: createCgroupMetrics(createRegistry({ defaultMetrics: false })),
    // Short windows: each scan interval is one demand estimate; every update carries them.
    settings: {
      scanIntervalMs: 2_000,
      windowMs: 6_000,
      openRatio: 0.25,
      resolveAfterMs: 600_000,
      updateIntervalMs: 2_000,
    },
  });
  const kernelBefore = await tree.readStat(rel, podRel);
  sampler.start();
  try {
    const carried = () => sink.events.reduce((n, e) => n + (e.throttle?.demandSamples?.length ?? 0), 0);
    await vi.waitFor(
      () => {
        if (carried() < 8) throw new Error(`${carried()} of 8 demand estimates sent so far`);
      },
      { timeout: 90_000, interval: 250 },
    );
  } finally {
    sampler.stop();
  }
  const kernelAfter = await tree.readStat(rel, podRel);
  // agent → wire → aggregator: the bytes the link sends, decoded and mapped as the pipeline does.
  const whisper = new WhisperState(
    {
      cluster: "test",
      project: "kgtest",
      workload: { kind: "Deployment", name },
      namespace: "kgtest",
      container: "app",
      signal: "CPUThrottling",
    },
    { thresholds: DEFAULT_THRESHOLDS, maxAffectedPods: 10 },
  );
  const samples: number[] = [];
  for (const event of sink.events) {
    const decoded = wire.Event.toObject(wire.Event.decode(wire.Event.encode(event).finish()), {
      longs: Number,
      defaults: true,
    }) as WireEvent;
    const facts = signalFacts(decoded);
    if (!facts) throw new Error(`event ${event.id} did not map to a signal`);
    samples.push(...facts.demandSamples);
    whisper.recordBatch(undefined, [
      {
        pod: { uid, namespace: "kgtest", name: `${name}-0`, node: "this-node", qosClass: "Burstable" },
        observedAtMs: Number(decoded.observedAtMs),
        count: facts.count,
        evidence: facts.evidence,
        resolved: facts.resolved,
        demandSamples: facts.demandSamples,
      },
    ]);
  }
  const recommendation = whisper.recommendation();
  const kernel = tree.describeDelta(kernelBefore, kernelAfter);
  console.info(
    `${name}: ${kernel}; demand samples [${samples.map((s) => s.toFixed(3)).join(", ")}]; ${recommendation.action} ${recommendation.cpuLimit ?? ""}: ${recommendation.summary}`,
  );
  return { samples, events: sink.events, recommendation, evidence: whisper.evidence, kernel };
}

const millicores = (quantity: string | undefined): number => Number(quantity?.replace(/m$/, "") ?? NaN);

describe.skipIf(problem !== undefined)("CPU demand on this machine's real cgroup v1", () => {
  it.concurrent("a one-thread busy loop under 0.1 CPU: limit 1.0-1.3 cores, never the 1.6-2.25 that usage + throttled time gave", async () => {
    const o = await measure("busy1", { load: "busy1", quota: 0.1 });
    expect(o.recommendation.action).toBe("SetCPULimit");
    expect(millicores(o.recommendation.cpuLimit)).toBeGreaterThanOrEqual(1000);
    expect(millicores(o.recommendation.cpuLimit)).toBeLessThanOrEqual(1300);
    // One spinning thread (one core) plus Node's helper threads, which barely run.
    for (const s of o.samples) expect(s).toBeLessThanOrEqual(1.1);
    expect(o.evidence.throttling).toMatchObject({ demandMethod: "threads", limitedBy: "container" });
    expect(o.evidence.throttling?.nodeCpus).toBe(NODE_CPUS);
    expect(o.recommendation.summary).toContain("per-thread scheduler time");
  }, 120_000);

  it.concurrent("a two-thread busy loop under 0.1 CPU: at most 2.0 cores and the node's CPUs", async () => {
    const o = await measure("busy2", { load: "busy2", quota: 0.1 });
    const limit = millicores(o.recommendation.cpuLimit);
    expect(o.recommendation.action).toBe("SetCPULimit");
    expect(limit).toBeLessThanOrEqual(Math.min(2000, NODE_CPUS * 1000));
    // Two threads that never block want two cores (the node's, when it has fewer).
    expect(limit).toBeGreaterThanOrEqual(Math.min(2000, NODE_CPUS * 1000));
    for (const s of o.samples) expect(s).toBeLessThanOrEqual(Math.min(2, NODE_CPUS));
  }, 120_000);

  it.concurrent("a duty cycle (25 ms of CPU, 175 ms asleep: 0.125 cores) under 0.1 CPU: limit 0.12-0.25 cores", async () => {
    const o = await measure("duty", { load: "duty", quota: 0.1 });
    const limit = millicores(o.recommendation.cpuLimit);
    expect(o.recommendation.action).toBe("SetCPULimit");
    expect(limit).toBeGreaterThanOrEqual(120);
    expect(limit).toBeLessThanOrEqual(250);
  }, 120_000);

  it.concurrent("a busy loop throttled only by its pod cgroup's quota (0.2): demand ~1 core, limited by the pod", async () => {
    // cgroup v1 refuses a child quota above its parent's (EINVAL), so the container has none of
    // its own here: only the pod level throttles, and the container's cpu.stat shows nothing.
    const o = await measure("podlimit", { load: "busy1", podQuota: 0.2 });
    expect(o.evidence.throttling).toMatchObject({ limitedBy: "pod", podLimitCores: 0.2, limitCores: 0 });
    expect(o.evidence.throttling?.podRatio).toBeGreaterThan(0.5);
    const limit = millicores(o.recommendation.cpuLimit);
    expect(o.recommendation.action).toBe("SetCPULimit");
    expect(limit).toBeGreaterThanOrEqual(1000);
    expect(limit).toBeLessThanOrEqual(1300);
    expect(o.recommendation.summary).toContain("pod cgroup's quota (200m) throttled");
  }, 120_000);
});
