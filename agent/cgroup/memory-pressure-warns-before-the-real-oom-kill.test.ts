// On this machine's kernel (root only): a process in a v1 memory cgroup with a 64 MiB limit,
// also placed in a cgroup of the cgroup2 `unified` mount (real PSI files), laid out as the
// kubelet's cgroupfs driver would. It grows to ~95 % of the limit and holds → MemoryPressure
// opens; frees → resolves after the stable period; a child then grows past the limit → the
// OOM killer takes it, and the kernel OOM event carries the warning that came before it.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { OomSource, ThrottleState, type WireEvent } from "../../shared/proto.ts";
import type { PodView } from "../types/index.ts";
import { detectLayout } from "./layout.ts";
import { createCgroupMetrics } from "./metrics.ts";
import { CgroupSampler } from "./sampler.ts";
import { hexId } from "./testing/build.ts";
import { DEFAULT_SETTINGS, ListSink, MapPodDirectory, samples } from "./testing/harness.ts";
import { MEMORY_HOG_PY, RealCgroups, realCgroupProblem, stdoutLines } from "./testing/real-cgroups.ts";

function python(): string | undefined {
  try {
    return execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}

const PYTHON = python();
const problem = realCgroupProblem() ?? (PYTHON ? undefined : "needs python3 for the allocating process");
if (problem) console.warn(`real MemoryPressure test skipped: ${problem}`);

const MiB = 1024 * 1024;
const LIMIT = 64 * MiB;

/** Working set as the kernel's own files say it: usage − total_inactive_file. */
async function kernelWorkingSet(cg: RealCgroups, rel: string): Promise<number> {
  const usage = Number(await cg.read("memory", rel, "memory.usage_in_bytes"));
  const stat = await cg.read("memory", rel, "memory.stat");
  const inactive = Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1]);
  return usage - inactive;
}

const psiTotal = async (cg: RealCgroups, rel: string, kind: "some" | "full") =>
  Number(
    new RegExp(`^${kind} .*total=(\\d+)$`, "m").exec(await cg.read("unified", rel, "memory.pressure"))?.[1],
  );

describe.skipIf(problem !== undefined)(
  `MemoryPressure on this machine's kernel (cgroup v1 memory + cgroup2 PSI)${problem ? ` (skipped: ${problem})` : ""}`,
  () => {
    let cg: RealCgroups;
    let hog: ChildProcess | undefined;
    beforeAll(async () => {
      cg = await RealCgroups.create("memory-pressure");
    });
    afterAll(async () => {
      hog?.kill("SIGKILL");
      await cg?.close();
    });

    it("warns at 95 % of a 64 MiB limit, resolves when freed, and the later OOM kill records the warning's lead time", async () => {
      const uid = randomUUID();
      const id = hexId();
      const rel = `kubepods/burstable/pod${uid}/${id}`;
      await cg.make(rel);
      await cg.limitMemory(rel, LIMIT);
      hog = spawn(PYTHON as string, ["-c", MEMORY_HOG_PY], { stdio: ["pipe", "pipe", "inherit"] });
      const lines = stdoutLines(hog);
      const command = async (line: string, answer: string) => {
        const before = lines.length;
        hog?.stdin?.write(`${line}\n`);
        await vi.waitFor(() => expect(lines.slice(before).join("\n")).toContain(answer), { timeout: 30_000 });
        return lines.slice(before).find((l) => l.startsWith(answer)) as string;
      };
      await cg.place(hog.pid as number, rel);
      await vi.waitFor(() => expect(lines).toContain("ready"), { timeout: 30_000 });

      const layout = await detectLayout(cg.root);
      expect(layout).toMatchObject({ version: 1, driver: "cgroupfs" });
      expect(layout.hierarchies.unified).toBeDefined();
      const pod: PodView = {
        uid,
        qosClass: "Burstable",
        ref: {
          uid,
          namespace: "kgtest",
          name: `hog-${uid.slice(0, 8)}`,
          node: "this-node",
          qosClass: "Burstable",
        },
        containers: [{ name: "hog", containerId: `containerd://${id}`, running: true, restartCount: 0 }],
      };
      const pods = new MapPodDirectory();
      pods.set(pod);
      const sink = new ListSink();
      const registry = createRegistry({ defaultMetrics: false });
      const sampler = new CgroupSampler({
        root: cg.root,
        layout,
        pods,
        sink,
        clock: systemClock,
        log: silentLogger(),
        metrics: createCgroupMetrics(registry),
        settings: DEFAULT_SETTINGS,
        memory: { windowMs: 2_000, resolveAfterMs: 2_000, updateIntervalMs: 60_000 },
      });
      const memory = () => sink.events.filter((e) => e.memory);
      const scanUntil = (what: string, done: () => WireEvent | undefined) =>
        vi.waitFor(
          async () => {
            await sampler.scanOnce();
            const e = done();
            if (!e) throw new Error(`waiting for ${what}`);
            return e;
          },
          { timeout: 60_000, interval: 200 },
        );

      await sampler.scanOnce();
      expect(memory()).toHaveLength(0); // an idle python is far from its limit

      // Grow to ~95 % of the limit and hold.
      const ws0 = await kernelWorkingSet(cg, rel);
      await command(`grow ${Math.round(0.95 * LIMIT - ws0)}`, "grown");
      const open = await scanUntil("the episode to open", () =>
        memory().find((e) => e.memory?.state === ThrottleState.THROTTLE_STATE_OPEN),
      );
      const kernelWs = await kernelWorkingSet(cg, rel);
      const failcnt = Number(await cg.read("memory", rel, "memory.failcnt"));
      const m = open.memory;
      console.info(
        `real MemoryPressure open: working set ${m?.workingSetBytes} (kernel now ${kernelWs}) of limit ${m?.limitBytes}, failcnt ${m?.limitHitsTotal} (kernel now ${failcnt}), max usage ${m?.peakBytes}, triggers ${m?.triggers}, PSI ${JSON.stringify(m?.pressure)}`,
      );
      expect(m?.limitBytes).toBe(LIMIT);
      expect(m?.workingSetBytes).toBeGreaterThanOrEqual(0.9 * LIMIT);
      expect(Math.abs(Number(m?.workingSetBytes) - kernelWs)).toBeLessThanOrEqual(MiB); // the kernel's own figure
      expect(m?.limitHitsTotal).toBeLessThanOrEqual(failcnt);
      expect(Number(m?.limitHitsTotal)).toBeGreaterThanOrEqual(0);
      expect(m?.peakBytes).toBeGreaterThanOrEqual(Number(m?.workingSetBytes));
      expect(m?.triggers).toContain("NearLimit");
      expect(m?.cgroupVersion).toBe(1);
      // The unified mirror gives real PSI: read, not "not readable".
      expect(m?.pressure).toBeDefined();

      // Free it: resolved once it stayed calm for the stable period.
      const openedAt = performance.now();
      await command("free", "freed");
      const resolved = await scanUntil("the episode to resolve", () =>
        memory().find((e) => e.memory?.state === ThrottleState.THROTTLE_STATE_RESOLVED),
      );
      expect(performance.now() - openedAt).toBeGreaterThanOrEqual(2_000);
      expect(resolved.id).toBe(open.id?.replace("/open/0", `/resolved/${resolved.id?.split("/").at(-1)}`));
      expect(resolved.memory?.workingSetBytes).toBeLessThan(0.9 * LIMIT);

      // A child grows past the limit: the OOM killer takes it, the main process survives.
      const stallBefore = await psiTotal(cg, rel, "some");
      expect(await command("oom", "child-exit")).toBe("child-exit -9");
      const stallAfter = await psiTotal(cg, rel, "some");
      const oom = await scanUntil("the kernel OOM event", () => sink.events.find((e) => e.oom));
      expect(oom.oom).toMatchObject({ source: OomSource.OOM_SOURCE_KERNEL, mainProcessSurvived: true });
      const warning = oom.oom?.precedingPressure;
      expect(warning).toMatchObject({ openedAtMs: open.memory?.openedAtMs, limitBytes: LIMIT });
      expect(Number(warning?.resolvedAtMs)).toBeGreaterThan(Number(warning?.openedAtMs));
      expect(Number(warning?.workingSetPeakBytes)).toBeGreaterThanOrEqual(0.9 * LIMIT);
      const leadMs = Number(oom.observedAtMs) - Number(warning?.openedAtMs);
      console.info(
        `real OOM kill linked to the MemoryPressure warning: lead time ${(leadMs / 1000).toFixed(1)} s (opened ${new Date(Number(warning?.openedAtMs)).toISOString()}, resolved ${new Date(Number(warning?.resolvedAtMs)).toISOString()}, kill counted ${new Date(Number(oom.observedAtMs)).toISOString()}); memory PSI some total +${((stallAfter - stallBefore) / 1000).toFixed(1)} ms during the kill`,
      );
      expect(leadMs).toBeGreaterThan(2_000);
      // Real PSI: the container's stall counter is the kernel's memory.pressure total.
      await sampler.scanOnce();
      const stalled = (
        await samples(registry, "kernel_gossip_container_memory_pressure_stalled_seconds_total")
      )[0]?.value;
      const kernelStalled = (await psiTotal(cg, rel, "some")) / 1e6;
      expect(stalled).toBeGreaterThanOrEqual(stallAfter / 1e6);
      expect(stalled).toBeLessThanOrEqual(kernelStalled);
    }, 180_000);
  },
);
