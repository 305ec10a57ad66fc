// The error catalog's promise (shared/errors.ts): a retired code is never given a new meaning
// and never sent again. RETIRED is what makes it checkable.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ERRORS, RETIRED } from "./errors.ts";

const ROOT = join(import.meta.dirname, "..");

function productSources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return ["fixtures", "testing", "gen"].includes(e.name) ? [] : productSources(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && e.name !== "testing.ts" ? [path] : [];
  });
}

it("a retired code is not in the catalog, and no product source names it outside the retired list", () => {
  expect(RETIRED.length).toBeGreaterThan(0);
  for (const code of RETIRED) expect(Object.keys(ERRORS), code).not.toContain(code);
  const naming = ["agent", "aggregator", "shared", "cli"]
    .flatMap(productSources)
    .filter((file) => file !== join("shared", "errors.ts"))
    .filter((file) => RETIRED.some((code) => readFileSync(join(ROOT, file), "utf8").includes(code)));
  expect(naming).toEqual([]);
});
