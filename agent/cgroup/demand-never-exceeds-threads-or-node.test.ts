// The demand estimate (ADR 0012) from fixture trees: thread figures as /proc writes them,
// cgroup counters as the kernel sums them, and the bounds physics sets.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cgroupUpperBound, threadDemand } from "./demand.ts";
import { nodeCgroupFs } from "./reader.ts";
import { MAX_THREADS, readThreads, type ThreadSnapshot, type ThreadTimes } from "./threads.ts";

const S = 1e9;
const t = (runS: number, delayS: number, voluntary: number, atMs: number, runnable = false): ThreadTimes => ({
  runNs: runS * S,
  delayNs: delayS * S,
  voluntary,
  runnable,
  atMs,
});
const snap = (...threads: [number, ThreadTimes][]): ThreadSnapshot => new Map(threads);

describe("threadDemand", () => {
  it("a thread that never blocked wanted a whole core, however little the quota let it run", () => {
    const d = threadDemand(
      snap([10, t(5, 40, 3, 0, true)]),
      snap([10, t(5.1, 40.9, 3, 1000, true)]),
      { usageSeconds: 0.1, throttledSeconds: 1.77, seconds: 1 },
      2,
    );
    expect(d).toMatchObject({ cores: 1, method: "threads", usedCores: 0.1, runnableThreads: 1 });
  });

  it("a thread that blocks wants run / (run + blocked): waiting is taken off its clock", () => {
    // 2 s: ran 0.25, waited (throttled) 1.0, blocked 0.75 → 0.25 / 1.0.
    const d = threadDemand(
      snap([7, t(1, 1, 10, 0)]),
      snap([7, t(1.25, 2, 20, 2000)]),
      { usageSeconds: 0.25, throttledSeconds: 1.0, seconds: 2 },
      2,
    );
    expect(d?.cores).toBeCloseTo(0.25, 9);
  });

  it("sums threads, adds CPU time of threads that exited, never exceeds the node's CPUs", () => {
    const prev = snap(
      [1, t(0, 0, 0, 0, true)],
      [2, t(0, 0, 0, 0, true)],
      [3, t(0, 0, 0, 0, true)],
      [4, t(1, 0, 5, 0)],
    );
    const next = snap([1, t(0.1, 0.9, 0, 1000)], [2, t(0.1, 0.9, 0, 1000)], [3, t(0.1, 0.9, 0, 1000)]);
    // Thread 4 exited; the cgroup's usage (0.5 s) holds 0.2 s more than the threads still here.
    const d = threadDemand(prev, next, { usageSeconds: 0.5, throttledSeconds: 2.7, seconds: 1 }, 2);
    expect(d?.cores).toBe(2);
    const roomy = threadDemand(prev, next, { usageSeconds: 0.5, throttledSeconds: 2.7, seconds: 1 }, 8);
    expect(roomy?.cores).toBeCloseTo(3.2, 9);
  });

  it("counts a new thread (or a reused id) by what it ran, and an idle thread as nothing", () => {
    const d = threadDemand(
      snap([5, t(9, 9, 1, 0)], [6, t(0, 0, 4, 0)]),
      snap([5, t(0.2, 0.1, 0, 1000)], [6, t(0, 0, 4, 1000)]),
      { usageSeconds: 0.2, throttledSeconds: 0, seconds: 1 },
      4,
    );
    expect(d).toMatchObject({ runnableThreads: 1 });
    expect(d?.cores).toBeCloseTo(0.2, 9);
  });

  it("never reports less than the cgroup used", () => {
    const d = threadDemand(snap(), snap(), { usageSeconds: 0.3, throttledSeconds: 0, seconds: 1 }, 2);
    expect(d?.cores).toBeCloseTo(0.3, 9);
  });
});

describe("cgroupUpperBound (threads not readable)", () => {
  it("caps usage + throttled time, which the kernel sums over per-CPU run queues, by threads and CPUs", () => {
    // The reported case: one thread, 0.1 cores used, 1.77 s throttled per second on a 2-CPU node.
    const step = { usageSeconds: 0.1, throttledSeconds: 1.77, seconds: 1 };
    expect(cgroupUpperBound(step, 1, 2)).toMatchObject({ cores: 1, method: "cgroup-upper-bound" });
    expect(cgroupUpperBound(step, 0, 2)?.cores).toBeCloseTo(1.87, 9);
    expect(cgroupUpperBound({ ...step, throttledSeconds: 9 }, 0, 2)?.cores).toBe(2);
    expect(cgroupUpperBound({ usageSeconds: 0.4, throttledSeconds: 0, seconds: 1 }, 1, 2)?.cores).toBeCloseTo(
      0.4,
      9,
    );
  });

  it("gives no number for an empty interval", () => {
    expect(cgroupUpperBound({ usageSeconds: 0, throttledSeconds: 0, seconds: 0 }, 1, 2)).toBeUndefined();
    expect(
      threadDemand(snap(), snap(), { usageSeconds: 0, throttledSeconds: 0, seconds: 0 }, 2),
    ).toBeUndefined();
  });
});

describe("readThreads from a fixture /proc", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kg-threads-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const proc = async (root: string, tid: number, schedstat: string, state: string, voluntary: number) => {
    await mkdir(join(root, String(tid)), { recursive: true });
    await writeFile(join(root, String(tid), "schedstat"), schedstat);
    await writeFile(
      join(root, String(tid), "status"),
      `Name:\tnode\nState:\t${state}\nTgid:\t${tid}\nvoluntary_ctxt_switches:\t${voluntary}\nnonvoluntary_ctxt_switches:\t9\n`,
    );
  };

  it("reads run, wait, voluntary switches and state per thread; skips ids outside the namespace and threads gone", async () => {
    const root = join(dir, "proc");
    await proc(root, 101, "5000000 7000000 3\n", "R (running)", 2);
    await proc(root, 102, "1 2 3\n", "S (sleeping)", 40);
    await writeFile(join(dir, "cgroup.threads"), "101\n0\n102\n103\n");
    let now = 0;
    const read = await readThreads(nodeCgroupFs, root, join(dir, "cgroup.threads"), () => ++now);
    expect(read).toMatchObject({ listed: 3 });
    if (!("snapshot" in read)) throw new Error("no snapshot");
    expect(read.snapshot.get(101)).toMatchObject({ runNs: 5e6, delayNs: 7e6, voluntary: 2, runnable: true });
    expect(read.snapshot.get(102)).toMatchObject({ runNs: 1, delayNs: 2, voluntary: 40, runnable: false });
    expect(read.snapshot.has(103)).toBe(false);
  });

  it("says why it has no snapshot: none visible, too many, or /proc not the host's", async () => {
    await writeFile(join(dir, "empty"), "");
    expect(await readThreads(nodeCgroupFs, join(dir, "proc"), join(dir, "empty"), () => 0)).toEqual({
      unavailable: "no-visible-threads",
      listed: 0,
    });
    const many = Array.from({ length: MAX_THREADS + 1 }, (_, i) => i + 1).join("\n");
    await writeFile(join(dir, "many"), `${many}\n`);
    expect(await readThreads(nodeCgroupFs, join(dir, "proc"), join(dir, "many"), () => 0)).toMatchObject({
      unavailable: "too-many-threads",
    });
    await writeFile(join(dir, "others"), "900\n901\n");
    expect(await readThreads(nodeCgroupFs, join(dir, "proc"), join(dir, "others"), () => 0)).toEqual({
      unavailable: "proc-unreadable",
      listed: 2,
    });
  });
});
