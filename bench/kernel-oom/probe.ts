// Whether this machine can run the real-kernel OOM case: root, and cgroup v1 memory, cpu and
// cpuacct hierarchies it may create cgroups in (asked of the real-cgroup fixture the case
// builds its tree with).
import { type Hierarchy, realCgroupProblem } from "../../agent/cgroup/testing/real-cgroups.ts";

export const HIERARCHIES: Hierarchy[] = ["memory", "cpu", "cpuacct"];

/** Why the case cannot run here, or undefined when it can. */
export function realMemoryCgroupProblem(): string | undefined {
  return realCgroupProblem(HIERARCHIES);
}
