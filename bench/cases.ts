// Every benchmark case, in the order `make bench` runs them. Each is loaded lazily: a case
// whose module (or a module it measures) is not there yet reports "not measured: …" instead
// of taking the suite down.

import { realMemoryCgroupProblem } from "./kernel-oom/probe.ts";
import type { BenchCaseResult, BenchOptions } from "./types.ts";
import { notMeasured } from "./types.ts";

export interface CaseEntry {
  id: string;
  name: string;
  /** Why the case cannot run on this machine (root, a cgroup hierarchy), or undefined. */
  unavailable?: () => string | undefined;
  load(): Promise<{ run(options: BenchOptions): Promise<BenchCaseResult> }>;
}

type CaseModule = Awaited<ReturnType<CaseEntry["load"]>>;

/** Dynamic import by path, so the suite typechecks and runs before every case's module exists. */
const importCase = (path: string): Promise<CaseModule> => import(new URL(path, import.meta.url).href);

export const CASES: readonly CaseEntry[] = [
  { id: "wire-size", name: "wire size", load: () => importCase("./wire-size/index.ts") },
  { id: "codec", name: "codec", load: () => importCase("./codec/index.ts") },
  { id: "cgroup-scan", name: "cgroup scan", load: () => importCase("./cgroup-scan/index.ts") },
  { id: "ingest", name: "aggregator ingest", load: () => importCase("./ingest/index.ts") },
  { id: "write-discipline", name: "write discipline", load: () => importCase("./write-discipline/index.ts") },
  {
    id: "detection-latency",
    name: "detection latency",
    load: () => importCase("./detection-latency/index.ts"),
  },
  {
    id: "kernel-oom",
    name: "kernel OOM latency",
    unavailable: realMemoryCgroupProblem,
    load: () => importCase("./kernel-oom/index.ts"),
  },
  { id: "fan-in", name: "fan-in", load: () => importCase("./fan-in/index.ts") },
  { id: "scale-out", name: "scale-out (3 replicas)", load: () => importCase("./scale-out/index.ts") },
  { id: "agent", name: "agent memory & CPU", load: () => importCase("./agent/index.ts") },
  { id: "spool", name: "node spool", load: () => importCase("./spool/index.ts") },
  { id: "fuzz", name: "hostile fuzz", load: () => importCase("./fuzz/index.ts") },
];

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ERR_MODULE_NOT_FOUND") {
      const missing = /Cannot find module '([^']+)'/.exec(err.message)?.[1] ?? err.message;
      return `a module it needs is not there yet (${missing.replace(`${process.cwd()}/`, "")})`;
    }
    return err.message.split("\n")[0] ?? String(err);
  }
  return String(err);
}

/** Runs one case; any failure becomes a "not measured" row naming the cause. */
export async function runCase(entry: CaseEntry, options: BenchOptions): Promise<BenchCaseResult> {
  let mod: Awaited<ReturnType<CaseEntry["load"]>>;
  try {
    mod = await entry.load();
  } catch (err) {
    return { name: entry.name, rows: [notMeasured(entry.name, describe(err))] };
  }
  try {
    return await mod.run(options);
  } catch (err) {
    return { name: entry.name, rows: [notMeasured(entry.name, `the case failed: ${describe(err)}`)] };
  }
}
