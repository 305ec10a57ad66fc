// cgroup scan: one full CgroupSampler scan of 110 pods / 250 containers on a fixture tree,
// against the floor of reading the very same files with a bare loop of
// fs.promises.readFile in the same process. The files are recorded from the sampler's own
// reads over a full limit re-read cycle, so both sides read exactly the same set each round.
// Both run interleaved (alternating order) after a warm-up; median and p99 of each.
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { detectLayout } from "../../agent/cgroup/layout.ts";
import { createCgroupMetrics } from "../../agent/cgroup/metrics.ts";
import { type CgroupFs, nodeCgroupFs, syncReadCgroupFs } from "../../agent/cgroup/reader.ts";
import { CgroupSampler } from "../../agent/cgroup/sampler.ts";
import {
  type CgroupFixture,
  CgroupFixture as Fixture,
  type FixtureOptions,
  makePod,
  podView,
  type Runtime,
} from "../../agent/cgroup/testing/build.ts";
import { DEFAULT_SETTINGS, ListSink, MapPodDirectory } from "../../agent/cgroup/testing/harness.ts";
import type { QosClass } from "../../agent/types/index.ts";
import { systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { consume, round, summarize } from "../stats.ts";
import type { BenchCaseResult, BenchOptions, BenchRow } from "../types.ts";

const PODS = 110;

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}
const CONTAINERS = 250;
/** The sampler re-reads CFS limits every 6 scans; the floor follows the same cycle. */
const CYCLE = 6;
const TARGET = 1.5;

/** 110 pods, 250 containers: 30 pods with 3 containers, 80 with 2; every QoS class and runtime. */
async function populate(fixture: CgroupFixture, pods: MapPodDirectory): Promise<void> {
  const qos: QosClass[] = ["Guaranteed", "Burstable", "BestEffort"];
  const runtimes: Runtime[] = ["containerd", "crio", "docker"];
  let containers = 0;
  const build = async (i: number) => {
    const names = i < CONTAINERS - 2 * PODS ? ["app", "sidecar", "proxy"] : ["app", "sidecar"];
    const pod = makePod(
      qos[i % 3] as QosClass,
      runtimes[Math.floor(i / 3) % 3] as Runtime,
      names,
      `ns-${i % 7}`,
    );
    await fixture.addPod(pod);
    for (const c of pod.containers) {
      await fixture.writeCpu(pod, c, {
        periods: 1000 + i,
        throttled: i,
        throttledSeconds: i / 10,
        usageSeconds: 100 + i,
      });
    }
    pods.set(podView(pod));
    containers += names.length;
  };
  // Ten pods at a time: building ~10,000 files one by one dominates a quick run otherwise.
  for (let i = 0; i < PODS; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, PODS - i) }, (_, k) => build(i + k)));
  }
  if (containers !== CONTAINERS)
    throw new Error(`fixture has ${containers} containers, expected ${CONTAINERS}`);
}

async function measure(options: FixtureOptions, label: string, quick: boolean): Promise<BenchRow[]> {
  // Memory-backed like the real cgroupfs when /dev/shm is there; else the temp dir.
  const base = (await isDir("/dev/shm")) ? "/dev/shm" : tmpdir();
  const dir = await mkdtemp(join(base, "kg-bench-cgroup-"));
  try {
    const fixture = await Fixture.create(join(dir, "cgroup"), options);
    const pods = new MapPodDirectory();
    await populate(fixture, pods);
    let recording: string[] | undefined;
    const fs: CgroupFs = {
      ...nodeCgroupFs,
      readFile: (path) => {
        recording?.push(path);
        return nodeCgroupFs.readFile(path);
      },
    };
    const layout = await detectLayout(fixture.root);
    const samplerWith = (reader: CgroupFs) =>
      new CgroupSampler({
        root: fixture.root,
        layout,
        pods,
        sink: new ListSink(),
        clock: systemClock,
        log: silentLogger(),
        metrics: createCgroupMetrics(createRegistry({ defaultMetrics: false })),
        settings: DEFAULT_SETTINGS,
        fs: reader,
      });
    // The default reader (fs.promises, as designed) and the readFileSync one (ADR 0002).
    const sampler = samplerWith(fs);
    const syncSampler = samplerWith(syncReadCgroupFs);
    await syncSampler.scanOnce();
    const first = await sampler.scanOnce(); // locates every container (one listing per pod)
    if (first.containers !== CONTAINERS || first.readErrors !== 0) {
      throw new Error(
        `first scan located ${first.containers} containers with ${first.readErrors} read errors`,
      );
    }
    // Record what scans 2..7 read: one full cycle, the same order the floor will use.
    const cycle: string[][] = [];
    for (let i = 0; i < CYCLE; i++) {
      recording = [];
      await sampler.scanOnce();
      cycle.push(recording);
    }
    recording = undefined;
    const floor = async (round: number) => {
      let bytes = 0;
      for (const path of cycle[round % CYCLE] as string[]) bytes += (await readFile(path, "utf8")).length;
      return bytes;
    };
    // The readFileSync reader's floor: the same files with a bare readFileSync loop.
    const floorSync = async (round: number) => {
      let bytes = 0;
      for (const path of cycle[round % CYCLE] as string[]) bytes += readFileSync(path, "utf8").length;
      return bytes;
    };
    const scan = async () => (await sampler.scanOnce()).containers;
    const syncScan = async () => (await syncSampler.scanOnce()).containers;

    const warmup = quick ? 3 : 20;
    const iterations = quick ? 10 : 200;
    for (let i = 0; i < warmup; i++) {
      consume(await scan());
      consume(await floor(i));
      consume(await syncScan());
    }
    const contenders = {
      scan: () => scan(),
      floor: (i: number) => floor(i),
      syncScan: () => syncScan(),
      sync: (i: number) => floorSync(i),
    };
    const names = Object.keys(contenders) as (keyof typeof contenders)[];
    const times = {
      scan: [] as number[],
      floor: [] as number[],
      syncScan: [] as number[],
      sync: [] as number[],
    };
    const cpu = {
      scan: [] as number[],
      floor: [] as number[],
      syncScan: [] as number[],
      sync: [] as number[],
    };
    for (let i = 0; i < iterations; i++) {
      for (let j = 0; j < names.length; j++) {
        const which = names[(i + j) % names.length] as keyof typeof contenders;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        consume(await contenders[which](i));
        times[which].push(performance.now() - t0);
        const c1 = process.cpuUsage(c0);
        cpu[which].push((c1.user + c1.system) / 1000);
      }
    }
    const o = summarize(times.scan);
    const f = summarize(times.floor);
    const fsync = summarize(times.sync);
    const os = summarize(times.syncScan);
    const files = cycle.reduce((n, c) => n + c.length, 0) / CYCLE;
    const note = `fixture on ${base}; ${iterations} rounds after ${warmup} warm-up, interleaved; ${round(files)} files per scan on average; floor = for-await fs.promises.readFile of the same files`;
    return [
      row(`full scan, ${label}, median`, o.median, f.median, note),
      row(`full scan, ${label}, p99`, o.p99, f.p99, note),
      {
        ...row(
          `full scan, ${label}, CPU time (user+sys, this process), median`,
          summarize(cpu.scan).median,
          summarize(cpu.floor).median,
          note,
        ),
        note: "process.cpuUsage() around each run; includes libuv threadpool time spent on the reads",
      },
      informational(`full scan with syncReadCgroupFs, ${label}, median`, os.median, fsync.median),
      informational(
        `full scan with syncReadCgroupFs, ${label}, CPU time, median`,
        summarize(cpu.syncScan).median,
        summarize(cpu.sync).median,
      ),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A comparison shown for insight, with no target: the scan's own work over the bare reads. */
function informational(figure: string, value: number, floor: number): BenchRow {
  return {
    figure,
    value: round(value),
    unit: "ms",
    floor: round(floor),
    ratio: round(value / floor),
    note: "the readFileSync reader (ADR 0002) against a bare readFileSync loop over the same files; no target: the difference is parsing, windows, signals and metrics",
  };
}

function row(figure: string, value: number, floor: number, note: string): BenchRow {
  const ratio = value / floor;
  return {
    figure,
    value: round(value),
    unit: "ms",
    floor: round(floor),
    ratio: round(ratio),
    target: `≤ ${TARGET}× floor`,
    pass: ratio <= TARGET,
    note,
  };
}

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const rows = [
    ...(await measure({ version: 2, driver: "systemd" }, "v2/systemd", quick)),
    ...(await measure({ version: 1, driver: "cgroupfs", v1Cpu: "combined" }, "v1/cgroupfs", quick)),
  ];
  return { name: `cgroup scan (${PODS} pods / ${CONTAINERS} containers)`, rows };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes("--quick");
  const result = await run({ quick });
  console.log(result.name);
  for (const r of result.rows) {
    console.log(
      `  ${r.figure}: ${r.value} ${r.unit} (floor ${r.floor} ${r.unit}, ${r.ratio}×${r.target ? `, target ${r.target}: ${r.pass ? "pass" : "FAIL"}` : ""})`,
    );
  }
  const notes = new Set(result.rows.map((r) => r.note));
  for (const note of notes) console.log(`  note: ${note}`);
}
