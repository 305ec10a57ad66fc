// Summarises a V8 CPU profile (`node --cpu-prof`) or heap profile (`node --heap-prof`):
// where the time (self time) or the sampled allocations go, by function and by file.
// Used to explain a missed target in BENCHMARKS.md.
//
//   node bench/profile/summarize.ts <file.cpuprofile|file.heapprofile> [--top 25]
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { REPO_ROOT } from "../proc/child.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
}
interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

const where = (f: CallFrame): string => {
  const url = f.url.startsWith("file://")
    ? relative(REPO_ROOT, new URL(f.url).pathname)
    : f.url || "(native)";
  return `${f.functionName || "(anonymous)"} ${url}:${f.lineNumber + 1}`;
};
const fileOf = (f: CallFrame): string => {
  if (!f.url) return f.functionName.startsWith("(") ? f.functionName : "(native)";
  const url = f.url.startsWith("file://") ? relative(REPO_ROOT, new URL(f.url).pathname) : f.url;
  return url.replace(/^node_modules\/((?:@[^/]+\/)?[^/]+)\/.*$/, "node_modules/$1");
};

function top(map: Map<string, number>, total: number, n: number, unit: (v: number) => string): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((v / total) * 100).toFixed(1).padStart(5)}%  ${unit(v).padStart(10)}  ${k}`);
}

export function summarizeCpu(profile: CpuProfile, n = 25): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    byFn.set(where(node.callFrame), (byFn.get(where(node.callFrame)) ?? 0) + us);
    byFile.set(fileOf(node.callFrame), (byFile.get(fileOf(node.callFrame)) ?? 0) + us);
  }
  const ms = (us: number) => `${(us / 1000).toFixed(0)} ms`;
  return [
    `CPU profile: ${ms(total)} sampled`,
    "",
    "self time by file / package:",
    ...top(byFile, total, 15, ms),
    "",
    "self time by function:",
    ...top(byFn, total, n, ms),
  ].join("\n");
}

export function summarizeHeap(root: HeapNode, n = 25): string {
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode) => {
    if (node.selfSize > 0) {
      total += node.selfSize;
      byFn.set(where(node.callFrame), (byFn.get(where(node.callFrame)) ?? 0) + node.selfSize);
      byFile.set(fileOf(node.callFrame), (byFile.get(fileOf(node.callFrame)) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child);
  };
  walk(root);
  const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
  return [
    `Heap profile: ${kib(total)} of sampled live allocations`,
    "",
    "by file / package:",
    ...top(byFile, total, 15, kib),
    "",
    "by function:",
    ...top(byFn, total, n, kib),
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write(
      "usage: node bench/profile/summarize.ts <file.cpuprofile|file.heapprofile> [--top N]\n",
    );
    process.exit(2);
  }
  const n = Number(process.argv[process.argv.indexOf("--top") + 1]) || 25;
  const data = JSON.parse(readFileSync(file, "utf8")) as CpuProfile | { head: HeapNode };
  process.stdout.write(`${"head" in data ? summarizeHeap(data.head, n) : summarizeCpu(data, n)}\n`);
}
