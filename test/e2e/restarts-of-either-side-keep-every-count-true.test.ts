// Issues 12 and 15, counting across restarts, through the real processes: the real agent
// (`bin/kernel-gossip agent`, built) with its spool in a temp dir, the real aggregator, the
// local API server, and this machine's kernel (cgroup v1 memory and cpu controllers, roots
// of the test's own; see agent/cgroup/testing/real-cgroups.ts). Three pods on node-1:
//  - `oomer`: PID 1 of the container lives on while a child is OOM-killed under a 64 MiB
//    limit, again and again; the truth is the kernel's oom_kill counter of its cgroup;
//  - `looper`: crash-looping as the kubelet reports it (`kubectl patch --subresource=status`,
//    restartCount + 1 and CrashLoopBackOff each time); the truth is the number of restarts;
//  - `spinner`: a busy loop under a 0.1-CPU quota, throttled the whole time; the truth is one
//    throttling episode that never closes.
// The agent is stopped with SIGTERM and restarted, SIGKILLed right after a kill and a restart
// and restarted, SIGKILLed while a burst of restarts streams; the aggregator is SIGKILLed and
// restarted; kills and restarts also happen while either side is down. After each, every
// KernelWhisper's count (read with kubectl) equals the truth.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hexId } from "../../agent/cgroup/testing/build.ts";
import { MEMORY_HOG_PY, RealCgroups, realCgroupProblem } from "../../agent/cgroup/testing/real-cgroups.ts";
import type { KubeApi } from "../kube-api/index.ts";
import { freePort } from "../ports.ts";
import { kubectlFor, startKubeApiRetrying } from "./harness.ts";
import { expectCountsSettleAtTruth, oneNodeEnv, roleProcesses } from "./role-processes.ts";

const problem = realCgroupProblem();
if (problem) console.warn(`restart counting test skipped: ${problem}`);

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
}
let oomer: TestPod;
let looper: TestPod;
let spinner: TestPod;
let hog: { child: ChildProcess; next(): Promise<string>; send(line: string): void };
let restarts = 0;

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

async function createPod(name: string, container: string): Promise<TestPod> {
  const manifest = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, labels: { "workload-id": name } },
    spec: { nodeName: "node-1", containers: [{ name: container, image: `registry.example/${name}:1` }] },
  };
  const file = join(spoolDir, `${name}.json`);
  await writeFile(file, JSON.stringify(manifest));
  await kubectl("apply", "-f", file);
  const uid = (await kubectl("get", "pod", name, "-n", NS, "-o", "jsonpath={.metadata.uid}")).trim();
  const id = hexId();
  return { name, uid, container, id, rel: `kubepods/burstable/pod${uid}/${id}` };
}

/** The status the kubelet writes: running (restart 0), or waiting in CrashLoopBackOff after `restart`. */
async function patchStatus(pod: TestPod, restart: number): Promise<void> {
  const now = Date.now();
  const cid = `containerd://${pod.id}`;
  const base = {
    name: pod.container,
    image: `registry.example/${pod.name}:1`,
    imageID: "",
    containerID: cid,
  };
  const status =
    restart === 0
      ? {
          phase: "Running",
          qosClass: "Burstable",
          containerStatuses: [
            {
              ...base,
              ready: true,
              started: true,
              restartCount: 0,
              state: { running: { startedAt: iso(now) } },
            },
          ],
        }
      : {
          phase: "Running",
          qosClass: "Burstable",
          containerStatuses: [
            {
              ...base,
              ready: false,
              started: false,
              restartCount: restart,
              state: {
                waiting: { reason: "CrashLoopBackOff", message: `back-off 10s restarting failed container` },
              },
              lastState: {
                terminated: {
                  exitCode: 1,
                  reason: "Error",
                  startedAt: iso(now - 2_000),
                  finishedAt: iso(now - 1_000),
                  containerID: `containerd://${hexId()}`,
                },
              },
            },
          ],
        };
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
  restarts++;
  await patchStatus(looper, restarts);
}

async function kernelKills(): Promise<number> {
  const text = await cg.read("memory", oomer.rel, "memory.oom_control");
  return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? "0");
}

async function oomOnce(): Promise<void> {
  hog.send("oom");
  expect(await hog.next()).toMatch(/^child-exit (-9|137)$/);
}

/**
 * Until the agent's first cgroup scan is done: a kill before it would be part of the counter's
 * first-sight baseline (by design: kills before the agent ever looked are not reported).
 */
async function untilFirstScan(): Promise<void> {
  const scans = async () => {
    const text = await fetch(`http://127.0.0.1:${procs.agentMetricsPort}/metrics`)
      .then((r) => r.text())
      .catch(() => "");
    return Number(/kernel_gossip_agent_cgroup_scan_duration_seconds_count\S* (\d+)/.exec(text)?.[1] ?? 0);
  };
  await expect
    .poll(scans, { timeout: 60_000, message: "the agent did not scan within 60 s" })
    .toBeGreaterThanOrEqual(1);
}

const startAggregator = () =>
  startProcess("aggregator", oneNodeEnv(streamPort, cg.root, spoolDir).aggregator, "accepting agents");

const startAgent = () =>
  startProcess(
    "agent",
    {
      ...oneNodeEnv(streamPort, cg.root, spoolDir).agent,
      THROTTLE_WINDOW: "3s",
      THROTTLE_UPDATE_INTERVAL: "2s",
      THROTTLE_RESOLVE_AFTER: "10m",
      DEDUP_COOLDOWN: "2s",
    },
    "agent started",
  );

interface Whisper {
  spec: { workload: { name: string }; signal: string };
  status: { count: number; active?: boolean };
}

async function whisperCounts(): Promise<Record<string, number>> {
  const items = JSON.parse(await kubectl("get", "kw", "-n", NS, "-o", "json")).items as Whisper[];
  return Object.fromEntries(items.map((w) => [`${w.spec.workload.name}/${w.spec.signal}`, w.status.count]));
}

async function truth(): Promise<Record<string, number>> {
  return {
    "oomer/OOMKilled": await kernelKills(),
    "looper/CrashLoopBackOff": restarts,
    "spinner/CPUThrottling": 1,
  };
}

/** Waits until every whisper count equals the truth; returns both (for the log). */
function expectCountsTrue(what: string, timeoutMs = 60_000): Promise<void> {
  return expectCountsSettleAtTruth(
    what,
    { truth, whispers: whisperCounts },
    {
      settled: (got, want) =>
        Object.entries(want).every(([k, v]) => got[k] === v) && Object.keys(got).length === 3,
      timeoutMs,
      logs,
    },
  );
}

describe.skipIf(problem !== undefined)(
  "counting across restarts of the agent and the aggregator (real kernel)",
  () => {
    beforeAll(async () => {
      api = await startKubeApiRetrying();
      kubectl = kubectlFor(api);
      await kubectl("apply", "-f", "crds/");
      await kubectl("create", "namespace", "kernel-gossip");
      await kubectl("create", "namespace", NS);
      spoolDir = await mkdtemp(join(tmpdir(), "kg-spool-e2e-"));
      streamPort = await freePort();
      cg = await RealCgroups.create("restarts");

      oomer = await createPod("oomer", "app");
      looper = await createPod("looper", "app");
      spinner = await createPod("spinner", "spin");
      for (const p of [oomer, spinner]) await cg.make(p.rel);
      await cg.limitMemory(oomer.rel, 64 * 1024 * 1024);
      await cg.quota(spinner.rel, 0.1);

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
        child: py,
        next: () => {
          const l = lines.shift();
          return l !== undefined ? Promise.resolve(l) : new Promise((r) => waiting.push(r));
        },
        send: (line) => py.stdin?.write(`${line}\n`),
      };
      await cg.place(py.pid as number, oomer.rel);
      expect(await hog.next()).toBe("ready");
      const spin = spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" });
      children.add(spin);
      await cg.place(spin.pid as number, spinner.rel);
      for (const p of [oomer, looper, spinner]) await patchStatus(p, 0);
    }, 120_000);

    afterAll(async () => {
      for (const child of children) child.kill("SIGKILL");
      await cg?.close();
      await api?.close();
      if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
    }, 60_000);

    it("every KernelWhisper count equals the truth through agent SIGTERM and SIGKILL restarts and an aggregator SIGKILL, with kills and restarts while each is down", async () => {
      let aggregator = await startAggregator();
      let agent = await startAgent();
      await untilFirstScan();
      await oomOnce();
      await oomOnce();
      await crashLoopOnce();
      await crashLoopOnce();
      await expectCountsTrue("before any restart");

      // Agent SIGTERM: a kill and a restart while it is down, then one more of each.
      await stop(agent, "SIGTERM");
      await oomOnce();
      await crashLoopOnce();
      agent = await startAgent();
      await oomOnce();
      await crashLoopOnce();
      await expectCountsTrue("agent SIGTERM + restart");

      // Agent SIGKILL right after a kill and a restart (they may be queued, held or in flight).
      await oomOnce();
      await crashLoopOnce();
      await stop(agent, "SIGKILL");
      await oomOnce();
      agent = await startAgent();
      await crashLoopOnce();
      await expectCountsTrue("agent SIGKILL + restart");

      // Agent SIGKILLed mid-stream: a burst of restarts, the agent killed in the middle of it.
      const burst = Array.from({ length: 12 }, (_, i) => i);
      for (const i of burst) {
        await crashLoopOnce();
        if (i === 6) await stop(agent, "SIGKILL");
      }
      agent = await startAgent();
      await expectCountsTrue("agent SIGKILLed mid-stream + restart");

      // Aggregator SIGKILL: a kill and a restart while it is down; the agent resends.
      await stop(aggregator, "SIGKILL");
      await oomOnce();
      await crashLoopOnce();
      aggregator = await startAggregator();
      await oomOnce();
      await expectCountsTrue("aggregator SIGKILL + restart");

      // The throttling never stopped: one episode, still open.
      const items = JSON.parse(await kubectl("get", "kw", "-n", NS, "-o", "json")).items as Whisper[];
      const throttle = items.find((w) => w.spec.signal === "CPUThrottling");
      expect(throttle?.status.count).toBe(1);
      await stop(agent, "SIGTERM");
      await stop(aggregator, "SIGTERM");
      // What the spool did, for the record: the agent logged each replay.
      const replays = logs.filter((l) => l.includes("spool replayed")).length;
      console.info(
        `spool replays logged: ${replays}; kernel oom_kill ${await kernelKills()}, restarts ${restarts}`,
      );
    }, 400_000);
  },
);
