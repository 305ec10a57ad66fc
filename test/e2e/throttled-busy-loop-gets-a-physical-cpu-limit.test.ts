// End to end on this machine's real cgroup v1 (root only): a one-thread busy loop under a
// 0.1-CPU quota in a kubelet-like tree (under a parent of the test's own), the real agent and
// aggregator as processes (`bin/kernel-gossip agent|aggregator`), the local API server, and the
// KernelWhisper read with the real kubectl: its recommendation is 1.0-1.3 cores (ADR 0012),
// never the 1.6-2.25 that "usage + throttled time" once gave on this 2-CPU node.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it, vi } from "vitest";
import { hexId } from "../../agent/cgroup/testing/build.ts";
import {
  type Hierarchy,
  LOADS,
  RealCgroups,
  realCgroupProblem,
} from "../../agent/cgroup/testing/real-cgroups.ts";
import type { KubeApi } from "../kube-api/index.ts";
import { kubectlFor, REPO, startKubeApiRetrying } from "./harness.ts";
import { type AggregatorProcess, startAggregatorProcess } from "./hostile-agents.ts";

/** CFS throttling is read from cgroup v1 cpu and cpuacct (the machine's cgroup2 mount has no cpu controller). */
const HIERARCHIES: Hierarchy[] = ["cpu", "cpuacct"];
const problem = realCgroupProblem(HIERARCHIES);
if (problem) console.warn(`end-to-end demand test skipped: ${problem}`);

const NODE = "node-demand";
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
}, 60_000);

function startAgentProcess(env: Record<string, string>): ChildProcess {
  const child = spawn(`${REPO}/bin/kernel-gossip`, ["agent"], {
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  });
  return child;
}

interface Whisper {
  spec: { container: string; signal: string };
  status: {
    evidence?: { throttling?: Record<string, unknown> };
    recommendation?: { action: string; cpuLimit?: string; samples?: number; summary: string };
  };
}

it.skipIf(problem !== undefined)(
  "a one-thread busy loop under 0.1 CPU: kubectl shows a CPU limit of 1.0-1.3 cores from per-thread demand",
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "kg-e2e-demand-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const api: KubeApi = await startKubeApiRetrying({ kubeconfigPath: join(dir, "kubeconfig.yaml") });
    cleanups.push(() => api.close());
    const kubectl = kubectlFor(api);
    await kubectl("apply", "-f", "crds/");
    await kubectl("create", "namespace", "kernel-gossip");
    await kubectl("create", "namespace", "shop");

    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "spin", namespace: "shop" },
      spec: {
        nodeName: NODE,
        containers: [{ name: "app", image: "busybox", resources: { limits: { cpu: "100m" } } }],
      },
    };
    const apply = spawn("kubectl", [
      "--kubeconfig",
      api.kubeconfigPath,
      "apply",
      "-f",
      "-",
      "-o",
      "jsonpath={.metadata.uid}",
    ]);
    apply.stdin.end(JSON.stringify(pod));
    let uid = "";
    apply.stdout.on("data", (c: Buffer) => {
      uid += c.toString();
    });
    await new Promise((r) => apply.once("exit", r));
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);

    // The container's cgroup, as the kubelet's cgroupfs driver lays it out, with the load in it.
    // CGROUP_ROOT for the agent (tree.root): the hierarchies it looks for, pointing into the test's parent.
    const tree = await RealCgroups.create("e2e-demand", HIERARCHIES);
    cleanups.push(() => tree.close());
    const id = hexId();
    const rel = `kubepods/burstable/pod${uid}/${id}`;
    await tree.make(rel);
    await tree.quota(rel, 0.1);
    tree.run(rel, LOADS.busy1);

    await kubectl(
      "patch",
      "pod",
      "spin",
      "-n",
      "shop",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          phase: "Running",
          qosClass: "Burstable",
          containerStatuses: [
            {
              name: "app",
              containerID: `containerd://${id}`,
              image: "busybox",
              imageID: "busybox@sha256:0",
              ready: true,
              restartCount: 0,
              started: true,
              state: { running: { startedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z") } },
            },
          ],
        },
      }),
    );

    const aggregator: AggregatorProcess = await startAggregatorProcess(api, {
      STATIC_TOKENS: `demand-token=${NODE}`,
    });
    cleanups.push(() => aggregator.stop());
    const agent = startAgentProcess({
      KUBECONFIG: api.kubeconfigPath,
      NODE_NAME: NODE,
      AGGREGATOR_URL: `ws://127.0.0.1:${aggregator.streamPort}/stream`,
      AGENT_TOKEN: "demand-token",
      CGROUP_ROOT: tree.root,
      METRICS_PORT: "0",
      SCAN_INTERVAL: "2s",
      THROTTLE_WINDOW: "6s",
      THROTTLE_UPDATE_INTERVAL: "2s",
      FLUSH_INTERVAL: "500ms",
      SPOOL_DIR: join(dir, "spool"),
    });
    let agentErr = "";
    agent.stderr?.on("data", (c: Buffer) => {
      agentErr += c.toString();
    });

    let whisper: Whisper | undefined;
    await vi.waitFor(
      async () => {
        const items = JSON.parse(await kubectl("get", "kw", "-n", "shop", "-o", "json")).items as Whisper[];
        whisper = items.find((w) => w.spec.signal === "CPUThrottling" && w.spec.container === "app");
        const samples = whisper?.status.recommendation?.samples ?? 0;
        if (samples < 8)
          throw new Error(
            `${samples} of 8 demand windows in the KernelWhisper so far; agent stderr: ${agentErr.slice(-500)}`,
          );
      },
      { timeout: 120_000, interval: 1_000 },
    );
    const rec = whisper?.status.recommendation;
    console.info(
      `kubectl: ${JSON.stringify(whisper?.status.evidence?.throttling)}; ${rec?.action} ${rec?.cpuLimit}: ${rec?.summary}`,
    );
    expect(rec?.action).toBe("SetCPULimit");
    const millicores = Number(rec?.cpuLimit?.replace(/m$/, ""));
    expect(millicores).toBeGreaterThanOrEqual(1000);
    expect(millicores).toBeLessThanOrEqual(1300);
    expect(whisper?.status.evidence?.throttling).toMatchObject({
      demandMethod: "threads",
      limitedBy: "container",
      nodeCpus: cpus().length,
      limitCores: 0.1,
    });
  },
  180_000,
);
