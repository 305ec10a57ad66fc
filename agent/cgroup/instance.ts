// One container instance (one container id) as the sampler tracks it, and the reading of
// its files in one scan. Reads of one container go out together; containers go one by one.
import type { PodView } from "../types/index.ts";
import type { DemandEstimate } from "./demand.ts";
import {
  type CgroupFiles,
  type CpuCounters,
  parseCpuStat,
  parseLimit,
  parseOomKills,
  parseUsage,
} from "./files.ts";
import { parseMemoryEvents } from "./memory.ts";
import { type PressureFigures, parsePressureFile } from "./parse.ts";
import { PressureWindow } from "./pressure.ts";
import { type FileReads, got, VANISHED } from "./reads.ts";
import { ThrottleSignal } from "./signal.ts";
import type { ThreadSnapshot } from "./threads.ts";
import { CpuWindow } from "./window.ts";

/** The CFS limit is re-read every this many scans (and for every new container). */
const LIMIT_REREAD_SCANS = 6;

export interface Instance {
  /** podUID/container name. */
  key: string;
  pod: PodView;
  container: string;
  bareId: string;
  files: CgroupFiles;
  window: CpuWindow;
  signal: ThrottleSignal;
  /** cpu.pressure over the throttle window. */
  cpuPressure: PressureWindow;
  /** Cores; undefined = no limit. */
  limit?: number;
  limitReadAt: number;
  /** Last oom_kill value; undefined until first read (which is then a baseline, not kills). */
  oomKills?: number;
  /** Thread figures of the previous scan, kept only while the container is throttled. */
  threads?: { snapshot: ThreadSnapshot; scan: number };
  /** The latest demand estimate and which quota limited (ADR 0012). */
  demand?: DemandEstimate;
  throttle?: ThrottleLevels;
}

/** Container and pod throttling over the window, and which one limited. */
export interface ThrottleLevels {
  limitedBy: "container" | "pod";
  ratio: number;
  podRatio: number;
  /** undefined = no pod-level limit. */
  podLimitCores?: number;
}

export function newInstance(
  pod: PodView,
  container: string,
  bareId: string,
  files: CgroupFiles,
  windowMs: number,
): Instance {
  return {
    key: `${pod.uid}/${container}`,
    pod,
    container,
    bareId,
    files,
    window: new CpuWindow(windowMs),
    signal: new ThrottleSignal(),
    cpuPressure: new PressureWindow(windowMs),
    limitReadAt: Number.NEGATIVE_INFINITY,
  };
}

export interface Readings {
  cpu?: CpuCounters;
  usageSeconds?: number;
  oomKills?: number;
  pressure?: PressureFigures;
  /** v2 memory.events "high" and "max", read with oom_kill (one read of the file). */
  memoryEvents?: { high: number; max: number };
}

/** Reads the instance's files; updates its cached limit when due. VANISHED when the cgroup is gone. */
export async function readInstance(
  reads: FileReads,
  version: 1 | 2,
  inst: Instance,
  scan: number,
): Promise<Readings | typeof VANISHED> {
  const f = inst.files;
  const limitDue = scan - inst.limitReadAt >= LIMIT_REREAD_SCANS;
  const [stat, usage, limit, oom, pressure] = await Promise.all([
    reads.read(f, f.cpuStat, (t) => parseCpuStat(version, t)),
    reads.read(f, f.usage, parseUsage),
    limitDue ? reads.readAll(f, f.limit, (t) => parseLimit(version, t)) : undefined,
    reads.read(f, f.oom, (t) => ({
      kills: parseOomKills(version, t),
      events: version === 2 ? parseMemoryEvents(t) : undefined,
    })),
    reads.read(f, f.pressure, (t) => parsePressureFile(t, "cpu.pressure"), true),
  ]);
  if (
    stat === VANISHED ||
    usage === VANISHED ||
    limit === VANISHED ||
    oom === VANISHED ||
    pressure === VANISHED
  ) {
    return VANISHED;
  }
  if (limit !== undefined) {
    inst.limitReadAt = scan;
    inst.limit = limit.value;
  }
  const cpu = got(stat);
  const o = got(oom);
  return {
    cpu,
    usageSeconds: cpu?.usageSeconds ?? got(usage),
    oomKills: o?.kills,
    pressure: got(pressure),
    memoryEvents: o?.events,
  };
}
