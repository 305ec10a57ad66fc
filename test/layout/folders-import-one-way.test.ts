// The layout says the architecture: product folders depend on each other one way only, so a
// newcomer can read a stage without the ones that use it. A folder-level import cycle (two
// folders importing each other, directly or around a loop) fails here with the files that
// close the loop. Tests, test support, benchmarks and fixtures are not product code.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const PRODUCT = ["agent", "aggregator", "shared", "cli", "proto"];

function productFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (["fixtures", "testing", "gen", "node_modules"].includes(entry.name)) continue;
      out.push(...productFiles(path));
    } else if (
      entry.name.endsWith(".ts") &&
      !entry.name.endsWith(".test.ts") &&
      entry.name !== "testing.ts"
    ) {
      out.push(path);
    }
  }
  return out;
}

/** folder → folder → one import that makes the edge (for the failure message). */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of PRODUCT.flatMap(productFiles)) {
    const source = readFileSync(join(ROOT, file), "utf8");
    for (const m of source.matchAll(/(?:import|export)\s[^;]*?from\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = normalize(join(dirname(file), m[1] as string));
      const from = dirname(file);
      const to = dirname(target);
      if (from === to || relative(ROOT, join(ROOT, to)).startsWith("..")) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      graph.get(from)?.set(to, `${file} → ${target}`);
    }
  }
  return graph;
}

/** Strongly connected components with more than one folder (Tarjan). */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe("product folders", () => {
  it("import each other one way only (no folder-level cycles)", () => {
    const graph = folderGraph();
    const loops = cycles(graph).map((component) =>
      component
        .flatMap((a) => component.filter((b) => graph.get(a)?.has(b)).map((b) => graph.get(a)?.get(b)))
        .join("\n  "),
    );
    expect(loops, `folder import cycles:\n  ${loops.join("\n\n  ")}`).toEqual([]);
  });

  it("the check sees a cycle when there is one", () => {
    const graph = new Map([
      ["a", new Map([["b", "a/x.ts → b/y.ts"]])],
      ["b", new Map([["c", "b/y.ts → c/z.ts"]])],
      ["c", new Map([["a", "c/z.ts → a/x.ts"]])],
    ]);
    expect(cycles(graph)).toEqual([["a", "b", "c"]]);
    expect(folderGraph().size).toBeGreaterThan(10);
  });
});
