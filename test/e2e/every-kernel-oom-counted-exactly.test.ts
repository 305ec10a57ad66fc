// Issue 15, on this machine's real kernel (cgroup v1 memory controller, root only), through
// the real processes: `bin/kernel-gossip aggregator` and `bin/kernel-gossip agent` against the
// local API server, the whispers read with the real kubectl. Each "container" is a real
// memory cgroup laid out as the kubelet's cgroupfs driver would (kubepods/burstable/pod<uid>/<id>)
// under a parent of this test's own (never under a kubelet's kubepods): the agent's CGROUP_ROOT
// is a directory whose memory/, cpu/ and cpuacct/ point at that parent in each hierarchy.
// Its PID 1 is a shell that runs greedy children on request; the OOM killer kills each child.
//
//  1. two, then five kernel OOM kills inside one dedup cooldown: the whisper's count follows
//     the kernel's oom_kill exactly, at most one cooldown (+ scan, flush, write) late;
//  2. the same, with the agent stopped by SIGTERM right after the last kill;
//  3. a crash loop with restarts inside the cooldown: the count equals the restarts;
//  4. a container with an earlier child OOM, then its pod deleted (containerd then says
//     OOMKilled for the SIGTERMed container): no new OOM counted.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hierarchy, RealCgroups, realCgroupProblem } from "../../agent/cgroup/testing/real-cgroups.ts";
import type { KubeApi } from "../kube-api/index.ts";
import { freePort } from "../ports.ts";
import { kubectlFor, scrape, startKubeApiRetrying, until } from "./harness.ts";
import { type Role, roleProcesses } from "./role-processes.ts";

const HIERARCHIES: Hierarchy[] = ["memory", "cpu", "cpuacct"];
const COOLDOWN_MS = 8_000;
const SCAN_MS = 1_000;
const FLUSH_MS = 200;
/** What the machine adds on top of the bound (a loaded 2-core machine: writes, process start). */
const SLACK_MS = 20_000;
const NS = "kgtest";
const NODE = "node-real";

const skip = realCgroupProblem(HIERARCHIES);
if (skip) console.warn(`real kernel OOM counting tests skipped: ${skip}`);

/** The test's own cgroup tree (agent/cgroup/testing/real-cgroups.ts); its `root` is the agent's CGROUP_ROOT. */
let cg: RealCgroups | undefined;
/** Manifests for kubectl apply. */
let tmp: string;
let api: KubeApi;
let kubectl: (...args: string[]) => Promise<string>;
let aggregatorPort: number;
const agentLogs: Record<string, unknown>[] = [];

const roles = roleProcesses(() => api);
const { children } = roles;
const stopProcess = (child: ChildProcess, signal: "SIGKILL" | "SIGTERM") => roles.stop(child, signal);

/** Starts `bin/kernel-gossip <role>`; resolves once `ready` appears in its log; `logs` gets every line. */
function startRole(role: Role, env: Record<string, string>, ready: string, logs?: Record<string, unknown>[]) {
  return roles.start(role, { LOG_LEVEL: "info", ...env }, ready, (line) => logs?.push(JSON.parse(line)));
}

function startAgent(): Promise<ChildProcess> {
  return startRole(
    "agent",
    {
      NODE_NAME: NODE,
      AGGREGATOR_URL: `ws://127.0.0.1:${aggregatorPort}/stream`,
      AGENT_TOKEN: "tok-real",
      CGROUP_ROOT: (cg as RealCgroups).root,
      SCAN_INTERVAL: `${SCAN_MS}ms`,
      DEDUP_COOLDOWN: `${COOLDOWN_MS}ms`,
      FLUSH_INTERVAL: `${FLUSH_MS}ms`,
      SHUTDOWN_TIMEOUT: "20s",
      EXTRA_REASONS: "",
    },
    "agent started",
    agentLogs,
  );
}

let agent: ChildProcess;

beforeAll(async () => {
  if (skip) return;
  tmp = await mkdtemp(join(tmpdir(), "kg-real-count-"));
  cg = await RealCgroups.create("count", HIERARCHIES);
  await cg.make("kubepods/burstable");
  api = await startKubeApiRetrying();
  kubectl = kubectlFor(api);
  await kubectl("apply", "-f", "crds/");
  await kubectl("create", "namespace", "kernel-gossip");
  await kubectl("create", "namespace", NS);
  aggregatorPort = await freePort();
  await startRole(
    "aggregator",
    {
      STREAM_PORT: String(aggregatorPort),
      AUTH_MODE: "static",
      STATIC_TOKENS: `tok-real=${NODE}`,
      POD_NAME: "aggregator-0",
      POD_NAMESPACE: "kernel-gossip",
      OBJECT_MIN_INTERVAL: "100ms",
      POD_EVENTS: "false",
    },
    "accepting agents",
  );
  agent = await startAgent();
}, 120_000);

afterAll(async () => {
  for (const child of [...children]) await stopProcess(child, "SIGKILL");
  await cg?.close();
  await api?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
}, 60_000);

interface RealContainer {
  pod: string;
  uid: string;
  id: string;
  memDir: string;
  main: ChildProcess;
  /** Runs `n` greedy children one after the other; resolves with their exit statuses. */
  oom(n: number): Promise<string[]>;
  kernelKills(): number;
}

/** A pod bound to NODE whose one container is a real memory cgroup with a live PID 1. */
async function realContainer(pod: string): Promise<RealContainer> {
  const id = randomBytes(32).toString("hex");
  const manifest = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: pod, namespace: NS },
    spec: {
      nodeName: NODE,
      containers: [
        {
          name: "app",
          image: "app:1",
          resources: { requests: { memory: "16Mi" }, limits: { memory: "48Mi" } },
        },
      ],
    },
  };
  const uid = (await apply(manifest, "-o", "jsonpath={.metadata.uid}")).trim();
  const rel = join("kubepods", "burstable", `pod${uid}`, id);
  const tree = cg as RealCgroups;
  await tree.make(rel);
  const memDir = tree.dir("memory", rel);
  await tree.limitMemory(rel, 48 * 1024 * 1024);
  // PID 1: for each number it reads, runs that many greedy children in turn and reports their exits.
  const greedy = `python3 -c 'a=[]\nwhile 1: a.append(bytearray(1<<20))'`;
  const main = spawn(
    "sh",
    ["-c", `while read n; do s=""; for i in $(seq $n); do ${greedy}; s="$s $?"; done; echo "exits$s"; done`],
    {
      stdio: ["pipe", "pipe", "ignore"],
    },
  );
  children.add(main);
  main.once("exit", () => children.delete(main));
  await tree.place(main.pid as number, rel);
  await patchStatus(pod, {
    phase: "Running",
    conditions: [
      { type: "Ready", status: "True", lastTransitionTime: new Date().toISOString().slice(0, 19) + "Z" },
    ],
    containerStatuses: [
      {
        name: "app",
        image: "app:1",
        imageID: "",
        ready: true,
        restartCount: 0,
        containerID: `containerd://${id}`,
        state: { running: { startedAt: new Date().toISOString().slice(0, 19) + "Z" } },
      },
    ],
  });
  let out = "";
  const waiters: ((line: string) => void)[] = [];
  main.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
    let i = out.indexOf("\n");
    while (i >= 0) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      waiters.shift()?.(line);
      i = out.indexOf("\n");
    }
  });
  const kernelKills = () =>
    Number(/oom_kill (\d+)/.exec(readFileSync(join(memDir, "memory.oom_control"), "utf8"))?.[1]);
  return {
    pod,
    uid,
    id,
    memDir,
    main,
    kernelKills,
    oom: (n) =>
      new Promise((resolve) => {
        waiters.push((line) => resolve(line.replace(/^exits ?/, "").split(" ")));
        main.stdin?.write(`${n}\n`);
      }),
  };
}

/** `kubectl apply -f <file>` of one object. */
async function apply(
  obj: { metadata: { name: string; namespace: string }; [field: string]: unknown },
  ...args: string[]
): Promise<string> {
  const file = join(tmp, `${obj.metadata.name}.json`);
  await writeFile(file, JSON.stringify(obj));
  return kubectl("apply", "-f", file, ...args);
}

async function patchStatus(pod: string, status: object): Promise<void> {
  await kubectl(
    "patch",
    "pod",
    pod,
    "-n",
    NS,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status }),
  );
}

interface Whisper {
  spec: { signal: string; container: string; workload?: { name?: string } };
  status?: { count?: number; affectedPods?: { name: string; count?: number }[] };
}

/** The count of the pod's whisper for `signal`, read with kubectl (0 when there is none yet). */
async function whisperCount(pod: string, signal: string): Promise<number> {
  const items = JSON.parse(await kubectl("get", "kw", "-n", NS, "-o", "json")).items as Whisper[];
  const w = items.find((x) => x.spec.signal === signal && x.spec.workload?.name === pod);
  return w?.status?.count ?? 0;
}

/** Waits until the whisper's count equals the kernel's, never seeing it above; returns ms taken. */
async function countReaches(c: RealContainer, boundMs: number): Promise<number> {
  const started = Date.now();
  const kernel = c.kernelKills();
  await until(
    `the ${c.pod} whisper to count the kernel's ${kernel} OOM kills`,
    async () => {
      const count = await whisperCount(c.pod, "OOMKilled");
      expect(count, "never more than the kernel counted").toBeLessThanOrEqual(c.kernelKills());
      return count === kernel ? true : undefined;
    },
    boundMs,
  );
  return Date.now() - started;
}

const BOUND_MS = COOLDOWN_MS + SCAN_MS + FLUSH_MS + SLACK_MS;

describe.skipIf(skip !== undefined)(
  `kernel OOM kills counted exactly through the real agent and aggregator${skip ? ` (skipped: ${skip})` : ""}`,
  () => {
    it("two, then five kills inside one cooldown: the whisper follows oom_kill exactly, within the bound", async () => {
      const c = await realContainer("two-then-five");
      await until("the agent to sample the new container", async () =>
        (await scrape(metricsPort(agentLogs))).includes(`pod="two-then-five"`) ? true : undefined,
      );
      expect(await c.oom(2)).toEqual(["137", "137"]); // SIGKILL from the OOM killer, twice
      expect(c.kernelKills()).toBe(2);
      const first = await countReaches(c, BOUND_MS);
      expect(await c.oom(5)).toEqual(["137", "137", "137", "137", "137"]);
      expect(c.kernelKills()).toBe(7);
      const second = await countReaches(c, BOUND_MS);
      expect(await whisperCount(c.pod, "OOMKilled")).toBe(7);
      console.info(
        `kernel oom_kill 2 → whisper 2 after ${first} ms; kernel oom_kill 7 → whisper 7 after ${second} ms (cooldown ${COOLDOWN_MS} ms, scan ${SCAN_MS} ms)`,
      );
      const outcomes = agentLogs.filter((l) => l.pod === "two-then-five" && typeof l.outcome === "string");
      expect(outcomes.map((l) => l.outcome)).toContain("sent");
      expect(outcomes.every((l) => l.msg && String(l.msg).startsWith("kernel OOM kill"))).toBe(true);
      const audited = agentLogs
        .filter((l) => l.audit === "delivered" && String(l.id).startsWith(`${c.uid}/app/`))
        .reduce((n, l) => n + Number(l.count), 0);
      expect(audited, "the audit lines name every kill in their counts").toBe(7);
    }, 180_000);

    it("the same with the agent stopped (SIGTERM) right after the last kill: every held count is delivered", async () => {
      const c = await realContainer("stopped-after-kills");
      await until("the agent to sample the new container", async () =>
        (await scrape(metricsPort(agentLogs))).includes(`pod="stopped-after-kills"`) ? true : undefined,
      );
      expect(await c.oom(1)).toEqual(["137"]);
      await countReaches(c, BOUND_MS); // the first kill leaves at once and opens the cooldown
      expect(await c.oom(4)).toEqual(["137", "137", "137", "137"]);
      const logsBefore = agentLogs.length;
      await stopProcess(agent, "SIGTERM");
      const stopLines = agentLogs.slice(logsBefore);
      expect(stopLines.map((l) => l.msg)).toContain("stopped; every event was delivered");
      const whisper = await whisperCount(c.pod, "OOMKilled");
      console.info(
        `SIGTERM right after the last kill: kernel oom_kill ${c.kernelKills()}, whisper count ${whisper}`,
      );
      expect(c.kernelKills()).toBe(5);
      expect(whisper).toBe(5);
      agent = await startAgent();
    }, 180_000);

    it("a crash loop with restarts inside the cooldown: the count equals the restarts", async () => {
      const pod = "crash-loop";
      await apply({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: pod, namespace: NS },
        spec: { nodeName: NODE, containers: [{ name: "app", image: "app:1" }] },
      });
      const at = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString().slice(0, 19) + "Z";
      const RESTARTS = 4;
      for (let n = 1; n <= RESTARTS; n++) {
        // The kubelet: the instance n-1 exited 1, the container waits in back-off at restartCount n.
        await patchStatus(pod, {
          phase: "Running",
          containerStatuses: [
            {
              name: "app",
              image: "app:1",
              imageID: "",
              ready: false,
              restartCount: n,
              containerID: `containerd://${randomUUID().replaceAll("-", "")}`,
              state: {
                waiting: {
                  reason: "CrashLoopBackOff",
                  message: `back-off ${10 * 2 ** (n - 1)}s restarting failed container=app pod=${pod}_${NS}(x)`,
                },
              },
              lastState: {
                terminated: { exitCode: 1, reason: "Error", startedAt: at(n), finishedAt: at(n) },
              },
            },
          ],
        });
      }
      const started = Date.now();
      await until(
        `the crash-loop whisper to count ${RESTARTS} restarts`,
        async () => {
          const count = await whisperCount(pod, "CrashLoopBackOff");
          expect(count).toBeLessThanOrEqual(RESTARTS);
          return count === RESTARTS ? true : undefined;
        },
        BOUND_MS,
      );
      console.info(
        `crash loop: ${RESTARTS} restarts, whisper count ${RESTARTS} after ${Date.now() - started} ms`,
      );
    }, 120_000);

    it("a container with an earlier child OOM, then its pod deleted: no new OOM counted", async () => {
      const c = await realContainer("deleted-after-child-oom");
      await until("the agent to sample the new container", async () =>
        (await scrape(metricsPort(agentLogs))).includes(`pod="deleted-after-child-oom"`) ? true : undefined,
      );
      expect(await c.oom(1)).toEqual(["137"]);
      await countReaches(c, BOUND_MS);
      // The deletion: the pod turns Terminating; its kubelet stops the container (SIGTERM), and
      // containerd, which once saw an OOM in it, reports the exit as OOMKilled; then it confirms.
      await kubectl("delete", "pod", c.pod, "-n", NS, "--wait=false");
      const exited = new Promise((r) => c.main.once("exit", r));
      c.main.kill("SIGTERM");
      await exited;
      const now = new Date().toISOString().slice(0, 19) + "Z";
      await patchStatus(c.pod, {
        phase: "Running",
        containerStatuses: [
          {
            name: "app",
            image: "app:1",
            imageID: "",
            ready: false,
            restartCount: 0,
            containerID: `containerd://${c.id}`,
            state: {
              terminated: {
                exitCode: 143,
                reason: "OOMKilled",
                startedAt: now,
                finishedAt: now,
                containerID: `containerd://${c.id}`,
              },
            },
          },
        ],
      });
      const line = await until("the agent to say the termination is not an OOM kill", async () =>
        agentLogs.find(
          (l) => l.pod === c.pod && l.cause !== undefined && String(l.msg).includes("not counted"),
        ),
      );
      expect(line.cause).toBe("pod-deleted");
      expect(api.confirmPodDeletion(NS, c.pod)).toBe(true);
      const metrics = await scrape(metricsPort(agentLogs));
      expect(metrics).toMatch(/kernel_gossip_agent_oom_reports_not_counted_total\{cause="pod-deleted"\} 1/);
      // Stopping the agent hands on everything dedup still holds: nothing else may arrive.
      const logsBefore = agentLogs.length;
      await stopProcess(agent, "SIGTERM");
      expect(agentLogs.slice(logsBefore).map((l) => l.msg)).toContain("stopped; every event was delivered");
      const whisper = await whisperCount(c.pod, "OOMKilled");
      console.info(`deleted after a child OOM: kernel oom_kill ${c.kernelKills()}, whisper count ${whisper}`);
      expect(c.kernelKills()).toBe(1);
      expect(whisper).toBe(1);
      agent = await startAgent();
    }, 120_000);
  },
);

/** The metrics port of the running agent, from its "agent started" line. */
function metricsPort(logs: Record<string, unknown>[]): number {
  const started = logs.filter((l) => l.msg === `agent started for node ${NODE}`).at(-1);
  return Number(started?.metricsPort);
}
