// The demand estimate's inputs on this machine's real cgroup2 hierarchy (root only): it has
// cpu.stat usage and cgroup.threads but no cpu controller (no quota, no nr_* counters), so
// this checks what v2 gives — the files, the parsers and the per-thread estimate of loads
// nothing throttles — not the throttling itself (the v1 tests do that).
import { readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { afterAll, describe, expect, it, vi } from "vitest";
import { cgroupUpperBound, threadDemand } from "./demand.ts";
import { cgroupFiles, parseCpuStat } from "./files.ts";
import type { CgroupLayout } from "./layout.ts";
import { nodeCgroupFs } from "./reader.ts";
import { LOADS, RealCgroups, realCgroupProblem } from "./testing/real-cgroups.ts";
import { readThreads, type ThreadSnapshot } from "./threads.ts";

const UNIFIED = "/sys/fs/cgroup/unified";

const problem = realCgroupProblem(["unified"]);
if (problem) console.warn(`real cgroup2 demand test skipped: ${problem}`);

const layout: CgroupLayout = {
  version: 2,
  driver: "cgroupfs",
  root: UNIFIED,
  hierarchies: { cpu: UNIFIED, cpuacct: UNIFIED, memory: UNIFIED, pids: UNIFIED },
  kubeletRoot: [],
  description: "v2/cgroupfs",
};
const trees: RealCgroups[] = [];
afterAll(async () => {
  for (const t of trees) await t.close();
});

async function measure(load: keyof typeof LOADS, cpuSeconds: number) {
  const cg = await RealCgroups.create(`demand-v2-${load}`, ["unified"]);
  trees.push(cg);
  await cg.make("load");
  const files = cgroupFiles(layout, `${cg.parent}/load`);
  cg.run("load", LOADS[load]);
  const usage = async () => parseCpuStat(2, await readFile(files.cpuStat ?? "", "utf8"));
  // Past Node's start-up: the load's thread is in the cgroup and running.
  await vi.waitFor(async () => expect((await usage()).usageSeconds).toBeGreaterThan(0.05), {
    timeout: 30_000,
  });
  const snapshot = async (): Promise<ThreadSnapshot> => {
    const read = await readThreads(nodeCgroupFs, "/proc", files.threads ?? "", () => performance.now());
    if (!("snapshot" in read)) throw new Error(`threads not readable: ${read.unavailable}`);
    return read.snapshot;
  };
  const a = { at: performance.now(), stat: await usage(), threads: await snapshot() };
  await vi.waitFor(
    async () =>
      expect(((await usage()).usageSeconds ?? 0) - (a.stat.usageSeconds ?? 0)).toBeGreaterThan(cpuSeconds),
    { timeout: 60_000, interval: 100 },
  );
  const b = { at: performance.now(), stat: await usage(), threads: await snapshot() };
  const step = {
    usageSeconds: (b.stat.usageSeconds ?? 0) - (a.stat.usageSeconds ?? 0),
    throttledSeconds: b.stat.throttledSeconds - a.stat.throttledSeconds,
    seconds: (b.at - a.at) / 1000,
  };
  return { step, stat: b.stat, demand: threadDemand(a.threads, b.threads, step, cpus().length) };
}

describe.skipIf(problem !== undefined)("CPU demand inputs on this machine's real cgroup2 hierarchy", () => {
  it.concurrent("a busy loop: cpu.stat has usage only (no cpu controller), its thread never blocks → 1 core", async () => {
    const o = await measure("busy1", 0.5);
    console.info(`cgroup2 busy1: ${JSON.stringify(o.step)} → ${JSON.stringify(o.demand)}`);
    expect(o.stat).toMatchObject({ periods: 0, throttled: 0, throttledSeconds: 0 });
    expect(o.demand?.method).toBe("threads");
    expect(o.demand?.cores).toBeGreaterThanOrEqual(0.95);
    expect(o.demand?.cores).toBeLessThanOrEqual(1.1);
    // Nothing throttles here: the upper bound is just what it used.
    expect(cgroupUpperBound(o.step, 1, cpus().length)?.cores).toBeCloseTo(
      o.step.usageSeconds / o.step.seconds,
      9,
    );
  }, 90_000);

  it.concurrent("a duty cycle (25 ms of CPU, 175 ms asleep) → about 0.125 cores, whatever else the machine runs", async () => {
    const o = await measure("duty", 0.15);
    console.info(`cgroup2 duty: ${JSON.stringify(o.step)} → ${JSON.stringify(o.demand)}`);
    expect(o.demand?.cores).toBeGreaterThanOrEqual(0.09);
    expect(o.demand?.cores).toBeLessThanOrEqual(0.2);
  }, 90_000);
});
