// Kernel figures for a pod's birth certificate, read from the pod-level cgroup (which
// counts every container and the sandbox): CPU seconds, throttled periods, peak memory,
// process count. Never throws; a figure that cannot be read is 0.
import { basename } from "node:path";
import type { KernelStats, PodView } from "../types/index.ts";
import { cgroupFiles, parseCpuStat, parseUsage } from "./files.ts";
import type { CgroupLayout } from "./layout.ts";
import type { CgroupLocator } from "./locator.ts";
import { parseSingle } from "./parse.ts";
import { type FileReads, got, VANISHED } from "./reads.ts";

export async function podStats(
  pod: PodView,
  layout: CgroupLayout,
  locator: CgroupLocator,
  reads: FileReads,
  scan: number,
): Promise<KernelStats | undefined> {
  let dir: string | undefined;
  try {
    dir = (await locator.pod(pod, scan))?.dir;
  } catch {
    return undefined;
  }
  if (dir === undefined) return undefined;
  const f = cgroupFiles(layout, dir);
  const single = (t: string, path: string | undefined) => parseSingle(t, basename(path ?? ""));
  const [stat, usage, peak, pids] = await Promise.all([
    reads.read(f, f.cpuStat, (t) => parseCpuStat(layout.version, t)),
    reads.read(f, f.usage, parseUsage),
    reads.read(f, f.memoryPeak, (t) => single(t, f.memoryPeak), true),
    reads.read(f, f.pids, (t) => single(t, f.pids), true),
  ]);
  if ([stat, usage, peak, pids].includes(VANISHED)) return undefined;
  const cpu = got(stat);
  return {
    cpuSeconds: cpu?.usageSeconds ?? got(usage) ?? 0,
    throttledPeriods: cpu?.throttled ?? 0,
    memoryPeakBytes: got(peak) ?? 0,
    processCount: got(pids) ?? 0,
  };
}
