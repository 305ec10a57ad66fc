// Against the machine's real cgroup v1 hierarchies (root only): a busy process under a
// 0.1-CPU quota in a cgroup laid out as the kubelet's cgroupfs driver would, and a child
// process OOM-killed under a small memory limit while its parent survives.
// Only directories this test creates are removed; a pod uid is random so nothing collides.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { OomSource, ThrottleState } from "../../shared/proto.ts";
import type { PodView, QosClass } from "../types/index.ts";
import { detectLayout } from "./layout.ts";
import { createCgroupMetrics } from "./metrics.ts";
import { CgroupSampler } from "./sampler.ts";
import { hexId } from "./testing/build.ts";
import { DEFAULT_SETTINGS, ListSink, MapPodDirectory } from "./testing/harness.ts";
import { type Hierarchy, RealCgroups, realCgroupProblem } from "./testing/real-cgroups.ts";

// Never under a path a kubelet might own (`kubepods` at the top of a hierarchy): each test's
// kubelet-like tree lives under a parent of its own (testing/real-cgroups.ts), and the
// agent's CGROUP_ROOT is a temp dir whose hierarchy entries are symlinks to those parents.
const HIERARCHIES: Hierarchy[] = ["cpu", "cpuacct", "memory"];
const cpuProblem = realCgroupProblem(HIERARCHIES);
const memoryProblem = cpuProblem;
if (cpuProblem) console.warn(`real throttling test skipped: ${cpuProblem}`);
if (memoryProblem) console.warn(`real OOM test skipped: ${memoryProblem}`);

/** A tree of the test's own; `run` closes it (processes killed, cgroups removed) also on failure. */
async function withTree(name: string, run: (cg: RealCgroups) => Promise<void>): Promise<void> {
  const cg = await RealCgroups.create(name, HIERARCHIES);
  try {
    await run(cg);
  } finally {
    await cg.close();
  }
}

// Real time is this file's input, not a wait for a condition: the busy loops must use real CPU
// under a real quota for the kernel's counters to move by what the assertions compare.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function podOf(uid: string, qos: QosClass, name: string, id: string): PodView {
  return {
    uid,
    qosClass: qos,
    ref: { uid, namespace: "kgtest", name: `real-${uid.slice(0, 8)}`, node: "this-node", qosClass: qos },
    containers: [{ name, containerId: `containerd://${id}`, running: true, restartCount: 0 }],
  };
}

async function sampler(cg: RealCgroups, pod: PodView) {
  const layout = await detectLayout(cg.root);
  const pods = new MapPodDirectory();
  pods.set(pod);
  const sink = new ListSink();
  const registry = createRegistry({ defaultMetrics: false });
  const s = new CgroupSampler({
    root: cg.root,
    layout,
    pods,
    sink,
    clock: systemClock,
    log: silentLogger(),
    metrics: createCgroupMetrics(registry),
    settings: { ...DEFAULT_SETTINGS, windowMs: 600_000 },
  });
  return { layout, sink, registry, sampler: s };
}

function kernelCpuStat(dir: string) {
  const text = readFileSync(join(dir, "cpu.stat"), "utf8");
  const get = (key: string) =>
    Number(
      text
        .split("\n")
        .find((l) => l.startsWith(`${key} `))
        ?.split(" ")[1],
    );
  return { periods: get("nr_periods"), throttled: get("nr_throttled") };
}

describe("on this machine's kernel (cgroup v1)", () => {
  it.skipIf(cpuProblem !== undefined)(
    `reports the throttled ratio the kernel counts and ~0.1 cores used under a 0.1-CPU quota${cpuProblem ? ` (skipped: ${cpuProblem})` : ""}`,
    () =>
      withTree("real-throttling", async (cg) => {
        const uid = randomUUID();
        const id = hexId();
        const rel = `kubepods/burstable/pod${uid}/${id}`;
        // As the kubelet does: the container's cgroup exists in every controller hierarchy (and,
        // like the kubelet's kubepods, every level has high CPU shares: the quota must be the limit).
        await cg.make(rel);
        const cpuDir = cg.dir("cpu", rel);
        const acctDir = cg.dir("cpuacct", rel);
        await cg.quota(rel, 0.1);
        const busy = spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" });
        await cg.place(busy, rel);

        const { layout, sink, sampler: s } = await sampler(cg, podOf(uid, "Burstable", "spin", id));
        expect(layout).toMatchObject({ version: 1, driver: "cgroupfs" });
        await sleep(300); // let the first periods pass under the quota
        const before = kernelCpuStat(cpuDir);
        const usageBefore = Number(readFileSync(join(acctDir, "cpuacct.usage"), "utf8"));
        const t0 = performance.now();
        expect(await s.scanOnce()).toMatchObject({ containers: 1, readErrors: 0 });
        await sleep(5_000);
        expect(await s.scanOnce()).toMatchObject({ containers: 1, readErrors: 0 });
        const after = kernelCpuStat(cpuDir);
        const kernelCores =
          (Number(readFileSync(join(acctDir, "cpuacct.usage"), "utf8")) - usageBefore) /
          1e6 /
          (performance.now() - t0);

        const kernelRatio = (after.throttled - before.throttled) / (after.periods - before.periods);
        const open = sink.events.find((e) => e.throttle?.state === ThrottleState.THROTTLE_STATE_OPEN);
        expect(open, "a 0.1-CPU busy loop is throttled above the 25 % threshold").toBeDefined();
        const t = open?.throttle;
        console.info(
          `real throttling: kernel ratio ${kernelRatio.toFixed(4)}, reported ${t?.throttledRatio?.toFixed(4)}; kernel cores ${kernelCores.toFixed(4)}, reported ${t?.coresUsed?.toFixed(4)} (limit ${t?.limitCores})`,
        );
        expect(Math.abs((t?.throttledRatio ?? -1) - kernelRatio)).toBeLessThanOrEqual(0.02);
        // The sensor agrees with cpuacct.usage over the same window, and the quota held usage at 0.1.
        expect(Math.abs((t?.coresUsed ?? 0) - kernelCores)).toBeLessThanOrEqual(0.1 * kernelCores);
        expect(t?.coresUsed).toBeGreaterThanOrEqual(0.09);
        expect(t?.coresUsed).toBeLessThanOrEqual(0.11);
        expect(t?.limitCores).toBeCloseTo(0.1, 9);
        // One interval: the threads were read for the first time, with no baseline to compare,
        // so there is no demand estimate yet ("not enough data", ADR 0012), never a guess.
        expect(t?.demandMethod).toBe("");
        expect(t?.demandCores).toBe(0);
        expect(t?.nodeCpus).toBeGreaterThanOrEqual(1);
      }),
    30_000,
  );

  it.skipIf(cpuProblem !== undefined)(
    `reports a partial throttled ratio within 2 points of the kernel's under a 0.3-CPU quota${cpuProblem ? ` (skipped: ${cpuProblem})` : ""}`,
    () =>
      withTree("real-partial-throttling", async (cg) => {
        const uid = randomUUID();
        const id = hexId();
        const rel = `kubepods/burstable/pod${uid}/${id}`;
        await cg.make(rel);
        const cpuDir = cg.dir("cpu", rel);
        await cg.quota(rel, 0.3);
        // Bursty: 25 ms of work, then 55 ms asleep — some 100 ms periods need more than 30 ms.
        const bursty = spawn(
          process.execPath,
          ["-e", "const burn=()=>{const t=Date.now();while(Date.now()-t<25);setTimeout(burn,55)};burn()"],
          { stdio: "ignore" },
        );
        await cg.place(bursty, rel);

        const { registry, sampler: s } = await sampler(cg, podOf(uid, "Burstable", "bursty", id));
        await sleep(1_000); // past node's start-up
        // The kernel's figures are read right after each of the sampler's reads: 80 periods make
        // one period read on the other side of a boundary worth 1.25 points, inside the 2.
        await s.scanOnce();
        const before = kernelCpuStat(cpuDir);
        await sleep(8_000);
        await s.scanOnce();
        const after = kernelCpuStat(cpuDir);
        const kernelRatio = (after.throttled - before.throttled) / (after.periods - before.periods);
        const reported = (
          await registry.getSingleMetric("kernel_gossip_container_cpu_throttled_ratio")?.get()
        )?.values[0]?.value;
        console.info(
          `real partial throttling: kernel ratio ${kernelRatio.toFixed(4)}, reported ${reported?.toFixed(4)}`,
        );
        expect(reported).toBeDefined();
        expect(Math.abs((reported ?? -1) - kernelRatio)).toBeLessThanOrEqual(0.02);
      }),
    30_000,
  );

  it.skipIf(memoryProblem !== undefined)(
    `reports a child's OOM kill as a kernel OOM while the main process survives${memoryProblem ? ` (skipped: ${memoryProblem})` : ""}`,
    () =>
      withTree("real-oom-child", async (cg) => {
        const uid = randomUUID();
        const id = hexId();
        const rel = `kubepods/pod${uid}/${id}`;
        await cg.make(rel);
        const limit = 64 * 1024 * 1024;
        await cg.limitMemory(rel, limit);
        // PID 1 of the "container": waits for the go, runs a greedy child, reports its exit, lives on.
        const greedy = `${JSON.stringify(process.execPath)} -e "const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))"`;
        const main = spawn("sh", ["-c", `read go; ${greedy}; echo "child-exit $?"; exec sleep 600`], {
          stdio: ["pipe", "pipe", "ignore"],
        });
        await cg.place(main, rel);

        const { sink, sampler: s } = await sampler(cg, podOf(uid, "Guaranteed", "app", id));
        await s.scanOnce(); // baseline: no kills yet
        const childExit = new Promise<string>((resolve) => {
          let out = "";
          main.stdout?.on("data", (chunk) => {
            out += String(chunk);
            if (out.includes("\n")) resolve(out.trim());
          });
        });
        main.stdin?.write("go\n");
        expect(await childExit).toBe("child-exit 137"); // SIGKILL from the OOM killer
        expect(await cg.read("memory", rel, "memory.oom_control")).toMatch(/oom_kill [1-9]/);

        await s.scanOnce(); // sees the counter advance; the main process still runs: decided at once
        const oom = sink.events.find((e) => e.oom);
        expect(main.exitCode).toBeNull();
        expect(oom?.oom).toMatchObject({
          source: OomSource.OOM_SOURCE_KERNEL,
          mainProcessSurvived: true,
          memoryLimitBytes: limit,
        });
        expect(oom?.oom?.kills).toBeGreaterThanOrEqual(1);
        expect(oom?.oom?.memoryPeakBytes).toBeGreaterThan(limit / 2);
        expect(oom?.container).toBe("app");
      }),
    30_000,
  );

  it.skipIf(memoryProblem !== undefined)(
    `leaves the OOM kill of the main process to the kubelet: counted as merged, no kernel event${memoryProblem ? ` (skipped: ${memoryProblem})` : ""}`,
    () =>
      withTree("real-oom-main", async (cg) => {
        const uid = randomUUID();
        const id = hexId();
        const rel = `kubepods/besteffort/pod${uid}/${id}`;
        await cg.make(rel);
        const limit = 64 * 1024 * 1024;
        await cg.limitMemory(rel, limit);
        // PID 1 itself is greedy: it waits for the go, then allocates until the OOM killer takes it.
        const main = spawn(
          process.execPath,
          ["-e", "process.stdin.once('data',()=>{const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))})"],
          { stdio: ["pipe", "ignore", "ignore"] },
        );
        const exited = new Promise<NodeJS.Signals | null>((resolve) =>
          main.once("exit", (_code, signal) => resolve(signal)),
        );
        await cg.place(main, rel);

        const pod = podOf(uid, "BestEffort", "app", id);
        const layout = await detectLayout(cg.root);
        const pods = new MapPodDirectory();
        pods.set(pod);
        const sink = new ListSink();
        const registry = createRegistry({ defaultMetrics: false });
        const s = new CgroupSampler({
          root: cg.root,
          layout,
          pods,
          sink,
          clock: systemClock,
          log: silentLogger(),
          metrics: createCgroupMetrics(registry),
          settings: DEFAULT_SETTINGS,
        });
        await s.scanOnce(); // baseline
        main.stdin?.write("go\n");
        expect(await exited).toBe("SIGKILL");
        // The counter moved and the cgroup is empty (it stays until the runtime removes it): the
        // main process died, its kill is the kubelet's OOMKilled — decided in this one scan.
        await s.scanOnce();
        expect(sink.events).toHaveLength(0);
        expect(await s.oomVerdict(`containerd://${id}`, false)).toBe("confirmed");
        const merged = (await registry.getSingleMetric("kernel_gossip_agent_kernel_oom_merged_total")?.get())
          ?.values[0]?.value;
        expect(merged).toBe(1);
      }),
    30_000,
  );
});
