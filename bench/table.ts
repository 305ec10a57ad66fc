// One aligned plain-text table for the terminal and a Markdown table for BENCHMARKS.md.
import type { BenchCaseResult } from "./types.ts";

const HEADERS = ["case", "figure", "median", "p99", "unit", "floor", "ratio", "target", "ok"] as const;

function num(value: number | undefined): string {
  if (value === undefined) return "";
  if (Number.isNaN(value)) return "—";
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return String(value);
}

export function tableRows(results: readonly BenchCaseResult[]): string[][] {
  const rows: string[][] = [];
  for (const result of results) {
    result.rows.forEach((row, i) => {
      rows.push([
        i === 0 ? result.name : "",
        row.figure,
        num(row.value),
        num(row.p99),
        row.unit,
        num(row.floor),
        row.ratio === undefined ? "" : `${num(row.ratio)}×`,
        row.target ?? "",
        row.pass === undefined ? (Number.isNaN(row.value) ? "—" : "") : row.pass ? "✓" : "✗",
      ]);
    });
  }
  return rows;
}

export function renderTable(results: readonly BenchCaseResult[]): string {
  const rows = [HEADERS.map(String), ...tableRows(results)];
  const widths = HEADERS.map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? "")].length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => {
        const pad = (widths[c] ?? 0) - [...cell].length;
        const right = c >= 2 && c <= 6 && c !== 4;
        return right ? " ".repeat(pad) + cell : cell + " ".repeat(pad);
      })
      .join("  ")
      .trimEnd();
  const out = [line(rows[0] ?? []), widths.map((w) => "─".repeat(w)).join("  ")];
  for (const r of rows.slice(1)) out.push(line(r));
  const notes = results.flatMap((r) =>
    r.rows.filter((row) => row.note).map((row) => `  ${r.name} / ${row.figure}: ${row.note}`),
  );
  return `${out.join("\n")}\n\nNotes:\n${notes.join("\n")}\n`;
}

export function renderMarkdown(results: readonly BenchCaseResult[]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  const out = [`| ${HEADERS.join(" | ")} |`, `|${HEADERS.map(() => "---").join("|")}|`];
  for (const r of tableRows(results)) out.push(`| ${r.map(esc).join(" | ")} |`);
  return `${out.join("\n")}\n`;
}
