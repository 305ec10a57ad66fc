// One scan's memory figures of a container cgroup, both versions:
//   working set = usage − inactive file cache (what the kubelet's eviction and `kubectl top`
//   call the working set: page cache the kernel can drop at once is not at risk);
//   v2: memory.current, memory.stat inactive_file, memory.max, memory.peak, memory.events
//       high/max, memory.pressure;
//   v1: memory.usage_in_bytes, memory.stat total_inactive_file (hierarchical), memory.limit_in_bytes,
//       memory.max_usage_in_bytes, memory.failcnt, and memory.pressure of the hybrid unified mirror.
import type { CgroupFiles } from "./files.ts";
import { parseMemoryLimit } from "./files.ts";
import { type PressureFigures, parseKeyValues, parsePressureFile, parseSingle } from "./parse.ts";
import { type FileReads, got, VANISHED } from "./reads.ts";

export interface MemoryReading {
  usageBytes: number;
  workingSetBytes: number;
  /** 0 = no limit. */
  limitBytes: number;
  /** The kernel's high-water mark; 0 unknown. */
  peakBytes: number;
  /** Cumulative: v1 memory.failcnt, v2 memory.events "max"; undefined unreadable. */
  limitHits?: number;
  /** v2 memory.events "high"; undefined on v1. */
  highEvents?: number;
  pressure?: PressureFigures;
}

/** memory.stat → inactive file bytes (v2 inactive_file, v1 total_inactive_file). */
function parseInactiveFile(version: 1 | 2, text: string): number {
  if (version === 2) return parseKeyValues(text, "memory.stat", ["inactive_file"] as const).inactive_file;
  return parseKeyValues(text, "memory.stat", ["total_inactive_file"] as const).total_inactive_file;
}

/** v2 memory.events → the "high" and "max" counters. */
export function parseMemoryEvents(text: string): { high: number; max: number } {
  return parseKeyValues(text, "memory.events", ["high", "max"] as const);
}

/**
 * Reads the memory figures (v2 `events`: memory.events as the scan already read it with the
 * OOM counter, so the file is read once); undefined when usage is not readable (no memory controller),
 * VANISHED when the cgroup went away. Optional files (memory.peak before 5.19, PSI) only
 * leave their figure out.
 */
export async function readMemory(
  reads: FileReads,
  version: 1 | 2,
  f: CgroupFiles,
  events: { high: number; max: number } | undefined,
): Promise<MemoryReading | typeof VANISHED | undefined> {
  // Without the memory controller on this cgroup (a v2 subtree that did not enable it) there
  // is no usage file: the figures are not available, which is not an error.
  const usage = await reads.read(
    f,
    f.memoryUsage,
    (t) => parseSingle(t, version === 2 ? "memory.current" : "memory.usage_in_bytes"),
    true,
  );
  if (usage === VANISHED) return VANISHED;
  if (usage === undefined) return undefined;
  const [stat, limit, peak, failcnt, pressure] = await Promise.all([
    reads.read(f, f.memoryStat, (t) => parseInactiveFile(version, t)),
    reads.read(f, f.memoryLimit, (t) => parseMemoryLimit(version, t)),
    reads.read(
      f,
      f.memoryPeak,
      (t) => parseSingle(t, version === 2 ? "memory.peak" : "memory.max_usage_in_bytes"),
      true,
    ),
    reads.read(f, f.memoryFailcnt, (t) => parseSingle(t, "memory.failcnt")),
    reads.read(f, f.memoryPressure, (t) => parsePressureFile(t, "memory.pressure"), true),
  ]);
  if ([stat, limit, peak, failcnt, pressure].includes(VANISHED)) return VANISHED;
  const usageBytes = usage.value;
  const inactive = got(stat) ?? 0;
  const ev = events;
  return {
    usageBytes,
    workingSetBytes: Math.max(0, usageBytes - inactive),
    limitBytes: got(limit) ?? 0,
    peakBytes: got(peak) ?? 0,
    limitHits: ev?.max ?? got(failcnt),
    highEvents: ev?.high,
    pressure: got(pressure),
  };
}
