// CPU demand of a throttled container over one scan interval: the cores it would have used
// had nothing made it wait (ADR 0012). Pure arithmetic, no I/O.
//
// "threads" (the method used whenever the threads can be read): each thread's window splits
// into running (schedstat run), waiting runnable (schedstat run_delay: throttled by the
// container's or the pod's quota, or queued behind other work) and blocked (the rest). Had
// it never waited, it would have run for `run` out of `run + blocked`: its demand is
// run / (run + blocked), at most one core; a thread that never blocked (no voluntary context
// switch, runnable at the start) wanted a whole core. The container's demand is the sum,
// plus CPU time of threads that exited during the interval (in the cgroup's usage, not in any
// thread), never below what it used, never above the node's CPUs.
//
// "cgroup-upper-bound" (threads not readable): usage + throttled time / interval. On cgroup
// v1 and v2 the kernel sums throttled time over the group's per-CPU run queues, and before
// Linux 6.8 it counted run queues that had no task waiting, so it is capped by the threads
// the cgroup lists and the node's CPUs. For bursty loads it is an upper bound, and says so.
import type { ThreadSnapshot } from "./threads.ts";

export type DemandMethod = "threads" | "cgroup-upper-bound";

export interface DemandEstimate {
  cores: number;
  method: DemandMethod;
  /** Cores the cgroup used in the interval (cpuacct.usage / usage_usec): the lower bound. */
  usedCores: number;
  /** Threads that ran or waited to run in the interval (threads), or the cgroup's thread count. */
  runnableThreads: number;
  /** Seconds the estimate covers. */
  seconds: number;
}

export interface CgroupStep {
  usageSeconds: number;
  /** Throttled time over the interval, summed over per-CPU run queues by the kernel. */
  throttledSeconds: number;
  seconds: number;
}

const NS = 1e9;

export function threadDemand(
  prev: ThreadSnapshot,
  next: ThreadSnapshot,
  step: CgroupStep,
  cpus: number,
): DemandEstimate | undefined {
  if (step.seconds <= 0) return undefined;
  let cores = 0;
  let attributed = 0;
  let runnable = 0;
  for (const [tid, b] of next) {
    const a = prev.get(tid);
    // A new thread (or a reused id): it started inside the interval; count what it ran.
    if (a === undefined || b.runNs < a.runNs || b.delayNs < a.delayNs) {
      const run = Math.min(b.runNs / NS, step.seconds);
      attributed += run;
      cores += run / step.seconds;
      if (run > 0) runnable++;
      continue;
    }
    const seconds = (b.atMs - a.atMs) / 1000;
    if (seconds <= 0) continue;
    const run = (b.runNs - a.runNs) / NS;
    const delay = (b.delayNs - a.delayNs) / NS;
    attributed += run;
    const neverBlocked = b.voluntary === a.voluntary && a.runnable;
    if (run === 0 && delay === 0 && !neverBlocked) continue;
    runnable++;
    if (neverBlocked) {
      cores += 1;
      continue;
    }
    const blocked = Math.max(0, seconds - run - delay);
    cores += run + blocked > 0 ? Math.min(1, run / (run + blocked)) : 1;
  }
  const usedCores = step.usageSeconds / step.seconds;
  // Threads that exited in the interval: their CPU time is in the cgroup's usage only.
  cores += Math.max(0, step.usageSeconds - attributed) / step.seconds;
  return {
    cores: Math.min(cpus, Math.max(usedCores, cores)),
    method: "threads",
    usedCores,
    runnableThreads: runnable,
    seconds: step.seconds,
  };
}

/** `threads`: how many the cgroup lists (0 when none are visible: only the node caps). */
export function cgroupUpperBound(
  step: CgroupStep,
  threads: number,
  cpus: number,
): DemandEstimate | undefined {
  if (step.seconds <= 0) return undefined;
  const usedCores = step.usageSeconds / step.seconds;
  const cap = threads > 0 ? Math.min(cpus, threads) : cpus;
  const upper = (step.usageSeconds + step.throttledSeconds) / step.seconds;
  return {
    cores: Math.min(cpus, Math.max(usedCores, Math.min(upper, cap))),
    method: "cgroup-upper-bound",
    usedCores,
    runnableThreads: threads,
    seconds: step.seconds,
  };
}
