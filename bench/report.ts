// Renders a results file (bench/results/latest.json) as the Markdown BENCHMARKS.md shows:
// the machine, the table, and every row's note.
//   node bench/report.ts [bench/results/latest.json]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { MachineInfo } from "./machine.ts";
import { REPO_ROOT } from "./proc/child.ts";
import { renderMarkdown } from "./table.ts";
import type { BenchCaseResult } from "./types.ts";

interface Report {
  mode: string;
  date: string;
  durationSeconds: number;
  machine: MachineInfo;
  results: BenchCaseResult[];
}

const file = process.argv[2] ?? join(REPO_ROOT, "bench/results/latest.json");
const report = JSON.parse(readFileSync(file, "utf8"), (_k, v) => (v === null ? Number.NaN : v)) as Report;
const m = report.machine;
const out = [
  `Run of ${report.date} (${report.mode}, ${Math.round(report.durationSeconds / 60)} min), commit ${m.commit}: ` +
    `${m.cpus}× ${m.cpuModel}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB, ${m.os} (kernel ${m.kernel}), Node ${m.node}.`,
  "",
  renderMarkdown(report.results),
  "Notes (how each figure was taken):",
  "",
  ...report.results.flatMap((r) =>
    r.rows.filter((row) => row.note).map((row) => `- **${r.name} / ${row.figure}**: ${row.note}`),
  ),
  "",
];
process.stdout.write(out.join("\n"));
