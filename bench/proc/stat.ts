// Process-level figures of another process, read from /proc: resident memory (VmRSS) and
// CPU time (utime + stime), which is what a node's kubelet and cgroup charge for it.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, from `getconf CLK_TCK`). */
const USER_HZ = ((): number => {
  try {
    const hz = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(hz) && hz > 0 ? hz : 100;
  } catch {
    return 100;
  }
})();

/** Resident set size in bytes, from /proc/<pid>/status VmRSS. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status (process gone?)`);
  return Number(match[1]) * 1024;
}

/** CPU seconds used so far (user + system), from /proc/<pid>/stat fields 14 and 15. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses: split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / USER_HZ;
}

/**
 * CPU seconds its live threads have run so far, to the nanosecond: the sum of field 1 of
 * /proc/<pid>/task/<tid>/schedstat (the scheduler's sum_exec_runtime, what utime + stime count
 * in clock ticks). For short windows, where a mostly idle process uses less than one 10 ms tick
 * and cpuSeconds() reads 0; a thread that exits within the window takes its time with it.
 */
export function runSeconds(pid: number): number {
  let seconds = 0;
  for (const s of runSecondsByThread(pid).values()) seconds += s;
  return seconds;
}

/**
 * The same per thread name (/proc/<pid>/task/<tid>/comm: Node's "MainThread", V8's "V8Worker"
 * helpers — parallel scavenges, concurrent marking and sweeping, optimizing compiles —
 * libuv's "libuv-worker", …), CPU seconds to the nanosecond.
 */
export function runSecondsByThread(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      byName.set(name, (byName.get(name) ?? 0) + ns / 1e9);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return byName;
}

export interface Usage {
  /** RSS samples in bytes over the window. */
  rss: number[];
  /** Average cores over the window (CPU seconds / wall seconds). */
  cores: number;
  seconds: number;
}

/**
 * Samples RSS every `everyMs` for `durationMs` and the CPU used over the same window.
 * `tick` runs at each sample (e.g. to check the process is still healthy).
 */
export async function sampleUsage(
  pid: number,
  options: { durationMs: number; everyMs: number; tick?: () => void },
): Promise<Usage> {
  const rss: number[] = [];
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  for (;;) {
    rss.push(rssBytes(pid));
    options.tick?.();
    if (performance.now() - t0 >= options.durationMs) break;
    await new Promise((r) =>
      setTimeout(r, Math.min(options.everyMs, options.durationMs - (performance.now() - t0))),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  return { rss, cores: (cpuSeconds(pid) - cpu0) / seconds, seconds };
}
