// Which files describe one cgroup on each layout, and how each is turned into numbers.
// v1 spreads them over hierarchies (cpu, cpuacct, memory); v2 keeps them in one directory.
import { join } from "node:path";
import type { CgroupLayout } from "./layout.ts";
import { cfsLimitCores, parseCpuMax, parseKeyValues, parseSingle } from "./parse.ts";

export interface CgroupFiles {
  /** The directory whose disappearance means the cgroup is gone. */
  dir: string;
  cpuStat?: string;
  /** v1 cpuacct.usage (ns); v2 usage is in cpu.stat. */
  usage?: string;
  /** v2 [cpu.max]; v1 [cpu.cfs_quota_us, cpu.cfs_period_us]. */
  limit: string[];
  oom?: string;
  pressure?: string;
  memoryLimit?: string;
  memoryPeak?: string;
  /** Working-set inputs: v2 memory.current / v1 memory.usage_in_bytes, and memory.stat. */
  memoryUsage?: string;
  memoryStat?: string;
  /** Limit hits on v1 (v2: memory.events "max", read as `oom`). */
  memoryFailcnt?: string;
  /** PSI: v2 memory.pressure; v1 only where the unified hierarchy mirrors the cgroup. */
  memoryPressure?: string;
  pids?: string;
  /** cgroup.procs of the memory cgroup: empty once every process of the container is gone. */
  procs?: string;
  /** Thread ids of the cgroup: v1 `tasks` (cpu hierarchy), v2 `cgroup.threads`. */
  threads?: string;
}

export function cgroupFiles(layout: CgroupLayout, rel: string): CgroupFiles {
  const h = layout.hierarchies;
  const at = (base: string | undefined, file: string) =>
    base === undefined ? undefined : join(base, rel, file);
  if (layout.version === 2) {
    const dir = join(layout.root, rel);
    return {
      dir,
      cpuStat: join(dir, "cpu.stat"),
      limit: [join(dir, "cpu.max")],
      oom: join(dir, "memory.events"),
      pressure: join(dir, "cpu.pressure"),
      memoryLimit: join(dir, "memory.max"),
      memoryPeak: join(dir, "memory.peak"),
      memoryUsage: join(dir, "memory.current"),
      memoryStat: join(dir, "memory.stat"),
      memoryPressure: join(dir, "memory.pressure"),
      pids: join(dir, "pids.current"),
      procs: join(dir, "cgroup.procs"),
      threads: join(dir, "cgroup.threads"),
    };
  }
  const quota = at(h.cpu, "cpu.cfs_quota_us");
  const period = at(h.cpu, "cpu.cfs_period_us");
  return {
    dir: join(h.cpu ?? h.memory ?? layout.root, rel),
    cpuStat: at(h.cpu, "cpu.stat"),
    usage: at(h.cpuacct, "cpuacct.usage"),
    limit: quota && period ? [quota, period] : [],
    oom: at(h.memory, "memory.oom_control"),
    // A hybrid host's unified hierarchy (systemd's, no controllers) mirrors the cgroup tree and
    // has real PSI per cgroup; optional reads, absent where the runtime did not mirror it.
    pressure: at(h.unified, "cpu.pressure"),
    memoryLimit: at(h.memory, "memory.limit_in_bytes"),
    memoryPeak: at(h.memory, "memory.max_usage_in_bytes"),
    memoryUsage: at(h.memory, "memory.usage_in_bytes"),
    memoryStat: at(h.memory, "memory.stat"),
    memoryFailcnt: at(h.memory, "memory.failcnt"),
    memoryPressure: at(h.unified, "memory.pressure"),
    pids: at(h.pids, "pids.current"),
    procs: at(h.memory, "cgroup.procs"),
    threads: at(h.cpu, "tasks"),
  };
}

export interface CpuCounters {
  periods: number;
  throttled: number;
  throttledSeconds: number;
  /** v2 only; v1 usage comes from cpuacct.usage. */
  usageSeconds?: number;
}

const V1_KEYS = ["nr_periods", "nr_throttled", "throttled_time"] as const;
const V2_KEYS = ["usage_usec", "nr_periods", "nr_throttled", "throttled_usec"] as const;
// Without the cpu controller enabled on a v2 subtree, cpu.stat has usage only.
const V2_OPTIONAL = ["nr_periods", "nr_throttled", "throttled_usec"] as const;

export function parseCpuStat(version: 1 | 2, text: string): CpuCounters {
  if (version === 1) {
    const v = parseKeyValues(text, "cpu.stat", V1_KEYS);
    return { periods: v.nr_periods, throttled: v.nr_throttled, throttledSeconds: v.throttled_time / 1e9 };
  }
  const v = parseKeyValues(text, "cpu.stat", V2_KEYS, V2_OPTIONAL);
  return {
    periods: v.nr_periods ?? 0,
    throttled: v.nr_throttled ?? 0,
    throttledSeconds: (v.throttled_usec ?? 0) / 1e6,
    usageSeconds: v.usage_usec / 1e6,
  };
}

/** v1 cpuacct.usage (ns) → seconds. */
export const parseUsage = (text: string): number => parseSingle(text, "cpuacct.usage") / 1e9;

/** Limit in cores from the limit files' texts, undefined for no limit. */
export function parseLimit(version: 1 | 2, texts: string[]): number | undefined {
  return version === 2 ? parseCpuMax(texts[0] ?? "") : cfsLimitCores(texts[0] ?? "", texts[1] ?? "");
}

/** The OOM kill counter: memory.events / memory.oom_control "oom_kill"; undefined on kernels without it. */
export function parseOomKills(version: 1 | 2, text: string): number | undefined {
  const file = version === 2 ? "memory.events" : "memory.oom_control";
  return parseKeyValues(text, file, ["oom_kill"] as const, ["oom_kill"] as const).oom_kill;
}

/** Bytes of a memory limit; 0 for none ("max", or v1's "unlimited" 2^63 rounded to the page). */
export function parseMemoryLimit(version: 1 | 2, text: string): number {
  if (version === 2 && text === "max\n") return 0;
  const n = parseSingle(text, version === 2 ? "memory.max" : "memory.limit_in_bytes");
  return n >= 2 ** 62 ? 0 : n;
}
