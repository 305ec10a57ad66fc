// The harness's own arithmetic and output: what every figure in BENCHMARKS.md rests on.
import { describe, expect, it } from "vitest";
import { percentileSorted, sideBySide, summarize } from "./stats.ts";
import { renderMarkdown, renderTable } from "./table.ts";
import { notMeasured } from "./types.ts";

describe("summaries", () => {
  it("interpolates percentiles between samples and reports median and p99", () => {
    const samples = Array.from({ length: 101 }, (_, i) => 100 - i); // 0..100, shuffled order
    const s = summarize(samples);
    expect(s.median).toBe(50);
    expect(s.p99).toBe(99);
    expect(s.min).toBe(0);
    expect(s.max).toBe(100);
    expect(percentileSorted([10, 20], 0.5)).toBe(15);
  });

  it("says NaN, not zero, for an empty set of samples", () => {
    expect(Number.isNaN(summarize([]).median)).toBe(true);
  });

  it("times every contender the same number of rounds, interleaved", () => {
    const order: string[] = [];
    const samples = sideBySide(
      { a: () => order.push("a"), b: () => order.push("b") },
      { warmup: 1, iterations: 4 },
    );
    expect(samples.a).toHaveLength(4);
    expect(samples.b).toHaveLength(4);
    // After the warm-up, the order rotates so neither always runs first.
    expect(order.slice(2)).toEqual(["a", "b", "b", "a", "a", "b", "b", "a"]);
  });
});

describe("tables", () => {
  const results = [
    {
      name: "codec",
      rows: [
        {
          figure: "per event",
          value: 8.03,
          p99: 13.5,
          unit: "µs",
          floor: 5.02,
          ratio: 1.6,
          target: "≤ 1.2× floor",
          pass: false,
        },
        { figure: "info", value: 1234, unit: "B" },
      ],
    },
    { name: "fan-in", rows: [notMeasured("fan-in", "a module it needs is not there yet (x.ts)")] },
  ];

  it("aligns columns and marks verdicts and unmeasured rows", () => {
    const lines = renderTable(results).split("\n");
    const header = lines[0] ?? "";
    expect(header.startsWith("case")).toBe(true);
    expect(lines[2]).toContain("1.6×");
    expect(lines[2]).toContain("✗");
    expect(lines[3]).toContain("1,234");
    expect(lines[4]).toContain("—");
    expect(renderTable(results)).toContain("not measured: a module it needs is not there yet (x.ts)");
    // Every table line is as wide as the header or narrower (trailing blanks trimmed).
    const width = [...(lines[1] ?? "")].length;
    for (const line of lines.slice(0, 5)) expect([...line].length).toBeLessThanOrEqual(width);
  });

  it("renders the same rows as Markdown for BENCHMARKS.md", () => {
    const md = renderMarkdown(results).split("\n");
    expect(md[0]).toBe("| case | figure | median | p99 | unit | floor | ratio | target | ok |");
    expect(md[2]).toBe("| codec | per event | 8.03 | 13.5 | µs | 5.02 | 1.6× | ≤ 1.2× floor | ✗ |");
  });
});
