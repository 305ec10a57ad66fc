// `make bench` (full) and `make bench-quick` (seconds per case, part of `make test`):
// runs every case, prints one table and writes bench/results/latest.json (quick.json in
// quick mode, so a quick run never overwrites the full results).
//
//   node bench/run.ts [--quick] [--only id,id] [--out file.json]
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildDist } from "../scripts/build-dist.ts";
import { CASES, runCase } from "./cases.ts";
import { machineInfo } from "./machine.ts";
import { cleanUpOnSignals } from "./proc/child.ts";
import { renderMarkdown, renderTable } from "./table.ts";
import type { BenchCaseResult } from "./types.ts";

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv: readonly string[]): {
  quick: boolean;
  only?: string[];
  out?: string;
  markdown: boolean;
} {
  const args: { quick: boolean; only?: string[]; out?: string; markdown: boolean } = {
    quick: false,
    markdown: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") args.quick = true;
    else if (a === "--markdown") args.markdown = true;
    else if (a === "--only") args.only = (argv[++i] ?? "").split(",").filter(Boolean);
    else if (a === "--out") args.out = argv[++i];
    else {
      const ids = CASES.map((c) => c.id).join(", ");
      throw new Error(
        `unknown argument ${JSON.stringify(a)}; usage: bench/run.ts [--quick] [--only ${ids}] [--out file] [--markdown]`,
      );
    }
  }
  const unknown = args.only?.filter((id) => !CASES.some((c) => c.id === id)) ?? [];
  if (unknown.length)
    throw new Error(`unknown case ${unknown.join(", ")}; cases: ${CASES.map((c) => c.id).join(", ")}`);
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  cleanUpOnSignals();
  // The process cases run what the image ships (bench/cluster/roles.ts): build it first.
  if (process.env.BENCH_FROM_SOURCES !== "1") await buildDist();
  const started = new Date();
  const results: BenchCaseResult[] = [];
  const out = args.out ?? join(here, "results", args.quick ? "quick.json" : "latest.json");
  mkdirSync(dirname(out), { recursive: true });
  const machine = machineInfo();
  const report = () => ({
    mode: args.quick ? "quick" : "full",
    date: started.toISOString(),
    durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
    machine,
    results,
  });
  for (const entry of CASES) {
    if (args.only && !args.only.includes(entry.id)) continue;
    const t0 = performance.now();
    process.stderr.write(`bench: ${entry.name}${args.quick ? " (quick)" : ""} …\n`);
    const result = await runCase(entry, { quick: args.quick });
    process.stderr.write(`bench: ${entry.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    results.push(result);
    // Written after every case, so a stopped run keeps what it measured.
    // NaN (not measured) is written as null by JSON.stringify.
    writeFileSync(out, `${JSON.stringify(report(), null, 2)}\n`);
  }
  const final = report();
  writeFileSync(out, `${JSON.stringify(final, null, 2)}\n`);
  const m = final.machine;
  process.stdout.write(
    `kernel-gossip benchmarks (${final.mode}) — ${final.date}, ${m.node}, ${m.cpus}× ${m.cpuModel}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB, ${m.os}, commit ${m.commit}\n\n`,
  );
  process.stdout.write(args.markdown ? renderMarkdown(results) : renderTable(results));
  process.stdout.write(`\nwrote ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
