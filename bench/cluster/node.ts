// One simulated node: the pods in the API server and their cgroups in a fixture tree
// (agent/cgroup/testing, cgroup v2 + systemd driver + containerd, the common case), with
// CPU counters that advance like a busy node's: every container uses CPU, one in five is
// throttled hard enough to open a CPUThrottling signal.
import { join } from "node:path";
import { CgroupFixture, type FixturePod } from "../../agent/cgroup/testing/build.ts";
import type { BenchKube } from "./kube.ts";
import { type BenchPod, createPods, planPods } from "./pods.ts";

export interface SimulatedNode {
  name: string;
  pods: BenchPod[];
  cgroupRoot: string;
  /** Advances every container's counters by `seconds` of activity. */
  tick(seconds: number): Promise<void>;
}

export async function simulateNode(
  kube: BenchKube,
  dir: string,
  options: {
    node: string;
    pods: number;
    containers: number;
    workloads: number;
    namespaces: number;
    prefix?: string;
  },
): Promise<SimulatedNode> {
  const pods = planPods(options);
  await createPods(kube, options.node, pods);
  const cgroupRoot = join(dir, "cgroup");
  const fixture = await CgroupFixture.create(cgroupRoot, { version: 2, driver: "systemd" });
  const fixturePods: FixturePod[] = pods.map((p) => ({
    uid: p.uid,
    namespace: p.namespace,
    name: p.name,
    qos: p.qosClass,
    sandboxId: `${p.containers[0]?.id.slice(0, 56) ?? ""}5a5a5a5a`,
    containers: p.containers.map((c) => ({ name: c.name, id: c.id, runtime: "containerd" as const })),
  }));
  const counters = new Map<
    string,
    { periods: number; throttled: number; throttledSeconds: number; usageSeconds: number }
  >();
  for (const [i, fp] of fixturePods.entries()) {
    await fixture.addPod(fp);
    const bp = pods[i] as BenchPod;
    for (const [k, c] of fp.containers.entries()) {
      const limit = bp.containers[k]?.cpuLimitCores;
      await fixture.writeLimit(fp, c, limit);
      const mem = bp.containers[k]?.memoryLimitBytes;
      await fixture.writeMemory(
        fp,
        c,
        mem === undefined ? { peak: 50_000_000 } : { limit: mem, peak: Math.floor(mem * 0.6) },
      );
      counters.set(c.id, { periods: 0, throttled: 0, throttledSeconds: 0, usageSeconds: 0 });
    }
  }
  let n = 0;
  return {
    name: options.node,
    pods,
    cgroupRoot,
    async tick(seconds) {
      n++;
      for (const [i, fp] of fixturePods.entries()) {
        const bp = pods[i] as BenchPod;
        for (const [k, c] of fp.containers.entries()) {
          const figures = counters.get(c.id);
          if (!figures) continue;
          const limit = bp.containers[k]?.cpuLimitCores;
          const throttledHard = (i + k) % 5 === 0;
          const periods = limit === undefined ? 0 : Math.round(seconds * 10); // 100 ms CFS periods
          figures.periods += periods;
          const throttled = throttledHard ? Math.round(periods * (0.5 + 0.1 * (n % 3))) : 0;
          figures.throttled += throttled;
          figures.throttledSeconds += throttled * 0.02;
          figures.usageSeconds += seconds * (limit ?? 0.2) * (throttledHard ? 0.98 : 0.3);
          await fixture.writeCpu(fp, c, figures);
        }
      }
    },
  };
}
