// Per-thread scheduler figures of one cgroup, for the demand estimate (ADR 0012).
//
// The cgroup lists its threads (v1 `tasks`, v2 `cgroup.threads`, ids in the agent's PID
// namespace: the DaemonSet runs with hostPID). For each thread the kernel keeps, in
// /proc/<tid>/schedstat, the nanoseconds it ran and the nanoseconds it waited runnable on a
// run queue (sched_info run_delay: CPU contention *and* CFS throttling of its cgroup or any
// parent, since a throttled thread stays runnable); /proc/<tid>/status has its voluntary
// context switches (it blocked) and its state. A thread is read with its own monotonic time,
// so each thread's window is exact even when a scan reads hundreds.
import { join } from "node:path";
import type { CgroupFs } from "./reader.ts";

export interface ThreadTimes {
  /** ns on a CPU (schedstat field 1). */
  runNs: number;
  /** ns runnable but waiting (schedstat field 2; counted when the thread next runs). */
  delayNs: number;
  /** voluntary_ctxt_switches: times it blocked (sleep, I/O, lock). */
  voluntary: number;
  /** State R (running or runnable) when read. */
  runnable: boolean;
  /** Monotonic ms of the read. */
  atMs: number;
}

export type ThreadSnapshot = Map<number, ThreadTimes>;

/** More threads than this in one cgroup: not read (the estimate falls back to cgroup counters). */
export const MAX_THREADS = 512;

function schedstat(text: string): { runNs: number; delayNs: number } | undefined {
  const [run, delay] = text.trim().split(" ");
  const runNs = Number(run);
  const delayNs = Number(delay);
  return Number.isSafeInteger(runNs) && Number.isSafeInteger(delayNs) && runNs >= 0 && delayNs >= 0
    ? { runNs, delayNs }
    : undefined;
}

function statusFields(text: string): { voluntary: number; runnable: boolean } | undefined {
  let voluntary: number | undefined;
  let runnable: boolean | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("State:")) runnable = line.slice(6).trim().startsWith("R");
    else if (line.startsWith("voluntary_ctxt_switches:")) voluntary = Number(line.slice(24).trim());
  }
  return voluntary !== undefined && Number.isSafeInteger(voluntary) && runnable !== undefined
    ? { voluntary, runnable }
    : undefined;
}

/** Thread ids listed in a cgroup's `tasks` / `cgroup.threads` file. */
function parseTids(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const tid = Number(line);
    // 0: a thread outside the reader's PID namespace (cgroup v2 shows it so).
    if (Number.isSafeInteger(tid) && tid > 0) out.push(tid);
  }
  return out;
}

export type ThreadRead =
  | { snapshot: ThreadSnapshot; listed: number }
  /** Why no snapshot: too many threads, none visible (no hostPID), or /proc not readable. */
  | { unavailable: "too-many-threads" | "no-visible-threads" | "proc-unreadable"; listed: number };

/**
 * Reads every thread of a cgroup. A thread that exits between the listing and its read is
 * skipped (its CPU time stays in the cgroup's usage, which the estimate adds back).
 */
export async function readThreads(
  fs: CgroupFs,
  procRoot: string,
  tasksFile: string,
  now: () => number,
): Promise<ThreadRead> {
  const tids = parseTids(await fs.readFile(tasksFile));
  if (tids.length === 0) return { unavailable: "no-visible-threads", listed: 0 };
  if (tids.length > MAX_THREADS) return { unavailable: "too-many-threads", listed: tids.length };
  const snapshot: ThreadSnapshot = new Map();
  let failed = 0;
  for (const tid of tids) {
    try {
      const dir = join(procRoot, String(tid));
      const s = schedstat(await fs.readFile(join(dir, "schedstat")));
      const st = statusFields(await fs.readFile(join(dir, "status")));
      if (s && st) snapshot.set(tid, { ...s, ...st, atMs: now() });
      else failed++;
    } catch {
      failed++;
    }
  }
  // Threads come and go; but none readable at all means /proc is not the host's.
  if (snapshot.size === 0 && failed > 0) return { unavailable: "proc-unreadable", listed: tids.length };
  return { snapshot, listed: tids.length };
}
