// End to end on this machine's real kernel (root only): a Python process in a v1 memory cgroup
// with a 64 MiB limit (and in a cgroup of the cgroup2 `unified` mount, for real PSI), in a
// kubelet-like tree under a parent of the test's own; the real agent and aggregator processes
// (`bin/kernel-gossip agent|aggregator`), the local API server, and the KernelWhispers read
// with the real kubectl. It grows to ~95 % of its limit → `kubectl get kw` shows a
// MemoryPressure whisper; it frees → resolved; a child grows past the limit → the OOMKilled
// whisper names that warning and how long before the kill it came.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it, vi } from "vitest";
import { hexId } from "../../agent/cgroup/testing/build.ts";
import {
  MEMORY_HOG_PY,
  RealCgroups,
  realCgroupProblem,
  stdoutLines,
} from "../../agent/cgroup/testing/real-cgroups.ts";
import type { KubeApi } from "../kube-api/index.ts";
import { kubectlFor, REPO, startKubeApiRetrying } from "./harness.ts";
import { type AggregatorProcess, startAggregatorProcess } from "./hostile-agents.ts";

function python(): string | undefined {
  try {
    return execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}
const PYTHON = python();
const problem = realCgroupProblem() ?? (PYTHON ? undefined : "needs python3 for the allocating process");
if (problem) console.warn(`end-to-end MemoryPressure test skipped: ${problem}`);

const NODE = "node-memory";
const MiB = 1024 * 1024;
const LIMIT = 64 * MiB;
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

// biome-ignore lint/suspicious/noExplicitAny: KernelWhisper JSON as kubectl prints it
type Whisper = { metadata: { name: string }; spec: { container: string; signal: string }; status: any };

it.skipIf(problem !== undefined)(
  "kubectl shows the MemoryPressure whisper at 95 % of 64Mi, resolved when freed, and the OOMKilled whisper names it with the lead time",
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "kg-e2e-memory-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const api: KubeApi = await startKubeApiRetrying({ kubeconfigPath: join(dir, "kubeconfig.yaml") });
    cleanups.push(() => api.close());
    const kubectl = kubectlFor(api);
    await kubectl("apply", "-f", "crds/");
    await kubectl("create", "namespace", "kernel-gossip");
    await kubectl("create", "namespace", "cache");

    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "hog", namespace: "cache" },
      spec: {
        nodeName: NODE,
        containers: [{ name: "app", image: "python", resources: { limits: { memory: "64Mi" } } }],
      },
    };
    const uid = JSON.parse(await kubectl("create", "-o", "json", "-f", await writePod(dir, pod))).metadata
      .uid as string;

    const cg = await RealCgroups.create("e2e-memory");
    cleanups.push(() => cg.close());
    const id = hexId();
    const rel = `kubepods/burstable/pod${uid}/${id}`;
    await cg.make(rel);
    await cg.limitMemory(rel, LIMIT);
    const hog = spawn(PYTHON as string, ["-c", MEMORY_HOG_PY], { stdio: ["pipe", "pipe", "inherit"] });
    cleanups.push(async () => void hog.kill("SIGKILL"));
    const lines = stdoutLines(hog);
    const command = async (line: string, answer: string) => {
      const before = lines.length;
      hog.stdin?.write(`${line}\n`);
      await vi.waitFor(() => expect(lines.slice(before).join("\n")).toContain(answer), { timeout: 30_000 });
      return lines.slice(before).find((l) => l.startsWith(answer)) as string;
    };
    await cg.place(hog.pid as number, rel);
    await vi.waitFor(() => expect(lines).toContain("ready"), { timeout: 30_000 });

    await kubectl(
      "patch",
      "pod",
      "hog",
      "-n",
      "cache",
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
              image: "python",
              imageID: "python@sha256:0",
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
      STATIC_TOKENS: `memory-token=${NODE}`,
    });
    cleanups.push(() => aggregator.stop());
    const agent = startAgentProcess({
      KUBECONFIG: api.kubeconfigPath,
      NODE_NAME: NODE,
      AGGREGATOR_URL: `ws://127.0.0.1:${aggregator.streamPort}/stream`,
      AGENT_TOKEN: "memory-token",
      CGROUP_ROOT: cg.root,
      METRICS_PORT: "0",
      SCAN_INTERVAL: "1s",
      MEMORY_WINDOW: "2s",
      MEMORY_RESOLVE_AFTER: "2s",
      FLUSH_INTERVAL: "100ms",
      SPOOL_DIR: join(dir, "spool"),
    });
    let agentErr = "";
    agent.stderr?.on("data", (c: Buffer) => {
      agentErr += c.toString();
    });
    const whispers = async () =>
      JSON.parse(await kubectl("get", "kw", "-n", "cache", "-o", "json")).items as Whisper[];
    const waitFor = <T>(what: string, find: (ws: Whisper[]) => T | undefined) =>
      vi.waitFor(
        async () => {
          const found = find(await whispers());
          if (found === undefined)
            throw new Error(`waiting for ${what}; agent stderr: ${agentErr.slice(-500)}`);
          return found;
        },
        { timeout: 90_000, interval: 500 },
      );
    const pressure = (ws: Whisper[]) => ws.find((w) => w.spec.signal === "MemoryPressure");

    const ws0 = Number(await cg.read("memory", rel, "memory.usage_in_bytes"));
    await command(`grow ${Math.round(0.95 * LIMIT - ws0)}`, "grown");
    const open = await waitFor("the MemoryPressure whisper", pressure);
    const table = await kubectl("get", "kw", "-n", "cache");
    console.info(`kubectl get kw -n cache:\n${table}`);
    expect(table).toMatch(
      /^pod-hog\.app\.memory-pressure\s+hog\s+app\s+MemoryPressure\s+(warning|critical)\s+-\s+9\d%\/64Mi\s+1\s/m,
    );
    expect(open.status.evidence.memory).toMatchObject({ state: "Open", limitBytes: LIMIT, cgroupVersion: 1 });
    expect(open.status.evidence.memory.workingSetBytes).toBeGreaterThanOrEqual(0.9 * LIMIT);
    expect(open.status.evidence.memory.pressure).toBeDefined(); // real PSI from the unified mirror
    expect(open.status.recommendation).toMatchObject({ action: "SetMemoryLimit" });

    await command("free", "freed");
    await waitFor("the whisper to resolve", (ws) =>
      pressure(ws)?.status.conditions.find(
        (c: { type: string; status: string }) => c.type === "Resolved" && c.status === "True",
      ),
    );

    expect(await command("oom", "child-exit")).toBe("child-exit -9");
    const oom = await waitFor("the OOMKilled whisper", (ws) => ws.find((w) => w.spec.signal === "OOMKilled"));
    const precededBy = oom.status.evidence.oom.precededBy;
    const oomTable = await kubectl("get", "kw", "-n", "cache");
    console.info(
      `kubectl get kw -n cache:\n${oomTable}\nOOMKilled evidence: ${JSON.stringify(oom.status.evidence.oom)}`,
    );
    expect(oom.status.evidence.oom).toMatchObject({
      source: "kernel",
      mainProcessSurvived: true,
      limitBytes: LIMIT,
    });
    expect(precededBy.whisper).toBe("pod-hog.app.memory-pressure");
    expect(precededBy.whisper).toBe(open.metadata.name);
    expect(precededBy.openedAt).toBe(open.status.evidence.memory.openedAt);
    expect(precededBy.leadSeconds).toBeGreaterThan(2);
    expect(oomTable).toMatch(
      /pod-hog\.app\.oom-killed\s+hog\s+app\s+OOMKilled\s+warning\s+-\s+warned-\d+s\s/,
    );
  },
  240_000,
);

async function writePod(dir: string, pod: object): Promise<string> {
  const { writeFile } = await import("node:fs/promises");
  const path = join(dir, "pod.json");
  await writeFile(path, JSON.stringify(pod));
  return path;
}
