// Whether this machine can run the real-kernel OOM case: root, and cgroup v1 memory, cpu and
// cpuacct hierarchies it may create cgroups in.
import { mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";

export const HIERARCHIES = ["memory", "cpu", "cpuacct"] as const;

/** Why the case cannot run here, or undefined when it can. */
export function realMemoryCgroupProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to create memory cgroups";
  for (const h of HIERARCHIES) {
    const dir = join("/sys/fs/cgroup", h, `kgbench-probe-${process.pid}`);
    try {
      mkdirSync(dir);
      rmdirSync(dir);
    } catch (err) {
      return `no writable cgroup v1 ${h} hierarchy at /sys/fs/cgroup/${h} (${(err as Error).message})`;
    }
  }
  return undefined;
}
