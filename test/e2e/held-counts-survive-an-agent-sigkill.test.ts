// Issues 12 and 15: counts dedup holds, and events still queued in the outbox, survive an agent
// SIGKILL (ADR 0013, "Held and queued counts"). Real processes: the built agent with its spool
// in a temp dir, the real aggregator, the local API server, this machine's cgroup v1 memory
// controller (roots of the test's own, agent/cgroup/testing/real-cgroups.ts). Pods on node-1:
//  - `oomer`: a child OOM-killed under 64 MiB while PID 1 lives on; truth: the cgroup's oom_kill;
//  - `looper`: crash-looping as the kubelet reports it (CrashLoopBackOff at restart n);
//  - `terminator`: OOMKilled terminations as the kubelet reports them (restarted at once, so
//    the status shows only the newest one in lastState) — the case the spool alone lost;
//  - `newcomer`: an OOMKilled termination queued in the outbox while the aggregator is down.
// Statuses are written with `kubectl patch --subresource=status`, as the kubelet writes them;
// whispers are read with kubectl. Dedup cooldown 15 s, so the repeats are held at the SIGKILL.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hexId } from "../../agent/cgroup/testing/build.ts";
import { MEMORY_HOG_PY, RealCgroups, realCgroupProblem } from "../../agent/cgroup/testing/real-cgroups.ts";
import { decodePending, type PendingState } from "../../agent/spool/pending.ts";
import { RecordType, readRecords } from "../../agent/spool/record.ts";
import type { KubeApi } from "../kube-api/index.ts";
import { freePort } from "../ports.ts";
import { kubectlFor, scrape, startKubeApiRetrying } from "./harness.ts";
import { expectCountsSettleAtTruth, oneNodeEnv, roleProcesses } from "./role-processes.ts";

const problem = realCgroupProblem();
if (problem) console.warn(`held counts across an agent SIGKILL test skipped: ${problem}`);

const NS = "shop";
let api: KubeApi;
let kubectl: (...args: string[]) => Promise<string>;
let cg: RealCgroups;
let spoolDir: string;
let streamPort: number;
const procs = roleProcesses(() => api);
const { children, logs, watchLines, stop, start: startProcess } = procs;

interface TestPod {
  name: string;
  uid: string;
  container: string;
  id: string;
  rel: string;
  /** Occurrences written so far (restarts or terminations). */
  n: number;
}
const pods: Record<string, TestPod> = {};
let hog: { next(): Promise<string>; send(line: string): void };

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

async function createPod(name: string): Promise<TestPod> {
  const manifest = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, labels: { "workload-id": name } },
    spec: { nodeName: "node-1", containers: [{ name: "app", image: `registry.example/${name}:1` }] },
  };
  const file = join(spoolDir, `${name}.json`);
  await writeFile(file, JSON.stringify(manifest));
  await kubectl("apply", "-f", file);
  const uid = (await kubectl("get", "pod", name, "-n", NS, "-o", "jsonpath={.metadata.uid}")).trim();
  const id = hexId();
  const pod = { name, uid, container: "app", id, rel: `kubepods/burstable/pod${uid}/${id}`, n: 0 };
  pods[name] = pod;
  return pod;
}

/**
 * The status the kubelet writes after occurrence `pod.n`: running (n = 0); waiting in
 * CrashLoopBackOff at restart n (`crash`); or running again after an OOMKilled termination,
 * which lastState shows until the next one replaces it (`oomkilled`).
 */
async function patchStatus(pod: TestPod, kind: "running" | "crash" | "oomkilled"): Promise<void> {
  const now = Date.now();
  const base = {
    name: pod.container,
    image: `registry.example/${pod.name}:1`,
    imageID: "",
    containerID: `containerd://${pod.id}`,
  };
  const lastState = (reason: string, exitCode: number) => ({
    terminated: {
      exitCode,
      reason,
      startedAt: iso(now - 2_000),
      finishedAt: iso(now - 500),
      // No cgroup of its own on this node: the kernel cannot contradict the kubelet.
      containerID: `containerd://${hexId()}`,
    },
  });
  const container =
    kind === "running"
      ? { ...base, ready: true, started: true, restartCount: 0, state: { running: { startedAt: iso(now) } } }
      : kind === "crash"
        ? {
            ...base,
            ready: false,
            started: false,
            restartCount: pod.n,
            state: {
              waiting: { reason: "CrashLoopBackOff", message: "back-off 10s restarting failed container" },
            },
            lastState: lastState("Error", 1),
          }
        : {
            ...base,
            ready: true,
            started: true,
            restartCount: pod.n,
            state: { running: { startedAt: iso(now) } },
            lastState: lastState("OOMKilled", 137),
          };
  const status = { phase: "Running", qosClass: "Burstable", containerStatuses: [container] };
  await kubectl(
    "patch",
    "pod",
    pod.name,
    "-n",
    NS,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  );
}

async function crashLoopOnce(): Promise<void> {
  const pod = pods.looper as TestPod;
  pod.n++;
  await patchStatus(pod, "crash");
}

async function oomKilledOnce(pod: TestPod): Promise<void> {
  pod.n++;
  await patchStatus(pod, "oomkilled");
}

async function kernelKills(): Promise<number> {
  const text = await cg.read("memory", (pods.oomer as TestPod).rel, "memory.oom_control");
  return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? "0");
}

async function kernelOomOnce(): Promise<void> {
  hog.send("oom");
  expect(await hog.next()).toMatch(/^child-exit (-9|137)$/);
}

const startAggregator = () =>
  startProcess("aggregator", oneNodeEnv(streamPort, cg.root, spoolDir).aggregator, "accepting agents");

const startAgent = () =>
  startProcess(
    "agent",
    {
      ...oneNodeEnv(streamPort, cg.root, spoolDir).agent,
      DEDUP_COOLDOWN: "15s",
      FLUSH_INTERVAL: "200ms",
    },
    "agent started",
  );

async function metric(name: string): Promise<number> {
  const text = await scrape(procs.agentMetricsPort).catch(() => "");
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
}

/** The newest PENDING record in the agent's spool file, as a restarted agent would read it. */
async function pendingOnDisk(): Promise<PendingState> {
  const data = await readFile(join(spoolDir, "node-1", "spool.log")).catch(() => Buffer.alloc(0));
  let pending: PendingState = { held: [], queued: [] };
  for (const r of readRecords(data).records)
    if (r.type === RecordType.pending) pending = decodePending(r.payload);
  return pending;
}

async function whisperCounts(): Promise<Record<string, number>> {
  const items = JSON.parse(await kubectl("get", "kw", "-n", NS, "-o", "json")).items as {
    spec: { workload: { name: string }; signal: string };
    status: { count: number };
  }[];
  return Object.fromEntries(items.map((w) => [`${w.spec.workload.name}/${w.spec.signal}`, w.status.count]));
}

async function truth(): Promise<Record<string, number>> {
  const want: Record<string, number> = {
    "oomer/OOMKilled": await kernelKills(),
    "looper/CrashLoopBackOff": (pods.looper as TestPod).n,
    "terminator/OOMKilled": (pods.terminator as TestPod).n,
  };
  if ((pods.newcomer as TestPod).n > 0) want["newcomer/OOMKilled"] = (pods.newcomer as TestPod).n;
  return want;
}

/** Waits until every whisper count equals the truth; no count may ever go above it. */
function expectCountsTrue(what: string, timeoutMs = 90_000): Promise<void> {
  return expectCountsSettleAtTruth(
    what,
    { truth, whispers: whisperCounts },
    {
      settled: (got, want) =>
        [...new Set([...Object.keys(want), ...Object.keys(got)])].every((k) => got[k] === want[k]),
      timeoutMs,
      logs,
    },
  );
}

describe.skipIf(problem !== undefined)("held and queued counts across an agent SIGKILL (real kernel)", () => {
  beforeAll(async () => {
    api = await startKubeApiRetrying();
    kubectl = kubectlFor(api);
    await kubectl("apply", "-f", "crds/");
    await kubectl("create", "namespace", "kernel-gossip");
    await kubectl("create", "namespace", NS);
    spoolDir = await mkdtemp(join(tmpdir(), "kg-held-e2e-"));
    streamPort = await freePort();
    cg = await RealCgroups.create("held-counts");
    for (const name of ["oomer", "looper", "terminator", "newcomer"]) await createPod(name);
    const oomer = pods.oomer as TestPod;
    await cg.make(oomer.rel);
    await cg.limitMemory(oomer.rel, 64 * 1024 * 1024);
    const py = spawn("python3", ["-c", MEMORY_HOG_PY], { stdio: ["pipe", "pipe", "ignore"] });
    children.add(py);
    const lines: string[] = [];
    const waiting: ((line: string) => void)[] = [];
    watchLines(py, (line) => {
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    });
    hog = {
      next: () => {
        const l = lines.shift();
        return l !== undefined ? Promise.resolve(l) : new Promise((r) => waiting.push(r));
      },
      send: (line) => py.stdin?.write(`${line}\n`),
    };
    await cg.place(py.pid as number, oomer.rel);
    expect(await hog.next()).toBe("ready");
    for (const p of Object.values(pods)) await patchStatus(p, "running");
  }, 120_000);

  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await cg?.close();
    await api?.close();
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
  }, 60_000);

  it("counts dedup held and events queued at an agent SIGKILL are counted once after the restart", async () => {
    let aggregator = await startAggregator();
    let agent = await startAgent();
    await expect
      .poll(() => metric("kernel_gossip_agent_cgroup_scan_duration_seconds_count"), { timeout: 60_000 })
      .toBeGreaterThanOrEqual(1);
    const terminator = pods.terminator as TestPod;
    const newcomer = pods.newcomer as TestPod;

    // First occurrences leave at once and open 15 s windows; the repeats right after are held.
    await kernelOomOnce();
    await crashLoopOnce();
    await oomKilledOnce(terminator);
    await expect
      .poll(() => whisperCounts(), { timeout: 30_000 })
      .toMatchObject({
        "oomer/OOMKilled": 1,
        "looper/CrashLoopBackOff": 1,
        "terminator/OOMKilled": 1,
      });
    await kernelOomOnce();
    await crashLoopOnce();
    await crashLoopOnce();
    await oomKilledOnce(terminator);
    await oomKilledOnce(terminator);
    // Held (the gauge), and on disk (the PENDING record) — the state a SIGKILL must not lose.
    const onDisk = async () => (await pendingOnDisk()).held.reduce((n, h) => n + h.held, 0);
    await expect
      .poll(() => metric("kernel_gossip_agent_dedup_held_occurrences"), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(4);
    // The kernel OOM repeat is held too once a scan saw it (1 s scans).
    await expect
      .poll(async () => (await pendingOnDisk()).held.some((h) => h.event.oom), { timeout: 10_000 })
      .toBe(true);
    const held = await metric("kernel_gossip_agent_dedup_held_occurrences");
    await expect.poll(onDisk, { timeout: 10_000 }).toBe(held);
    await stop(agent, "SIGKILL");
    console.info(
      `SIGKILL while dedup held ${held} occurrences (${JSON.stringify((await pendingOnDisk()).held.map((h) => [h.event.id, h.held]))})`,
    );

    // While the agent is down the kubelet moves on: the held terminations leave the status.
    await oomKilledOnce(terminator);
    await crashLoopOnce();
    await kernelOomOnce();
    agent = await startAgent();
    expect(logs.some((l) => /counts dedup held \([1-9]\d* occurrences\)/.test(l))).toBe(true);
    await expectCountsTrue("agent SIGKILLed while dedup held counts, restarted");

    // Queued: the aggregator is down, a first occurrence waits in the outbox (and the spool's
    // PENDING record); the agent is SIGKILLed; the kubelet replaces it in the status.
    await stop(aggregator, "SIGKILL");
    await oomKilledOnce(newcomer);
    await expect
      .poll(async () => (await pendingOnDisk()).queued.map((e) => e.pod?.name), { timeout: 10_000 })
      .toContain("newcomer");
    await stop(agent, "SIGKILL");
    await oomKilledOnce(newcomer);
    aggregator = await startAggregator();
    agent = await startAgent();
    await expectCountsTrue(
      "agent SIGKILLed with an event queued while the aggregator was down, both restarted",
    );

    await stop(agent, "SIGTERM");
    await stop(aggregator, "SIGTERM");
  }, 300_000);
});
