// Issue 17, finding 7: `make test` on a fresh machine needed protoc, promtool and yamllint
// that only .ci/run installs, and skipped their checks without saying so up front. The
// global setup now names each missing tool once, with the tests it skips and the fix; the
// list of tests is kept complete here.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { missingToolsNotice, TOOLS, type ToolName } from "./tools.ts";

const ROOT = join(import.meta.dirname, "..");

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === "node_modules" || name.startsWith(".")) return [];
    if (statSync(path).isDirectory()) return testFiles(path);
    return name.endsWith(".test.ts") ? [relative(ROOT, path)] : [];
  });
}

describe("external test tools", () => {
  it("every test file that runs protoc, promtool or yamllint is listed under its tool", () => {
    const files = testFiles(ROOT).filter((f) => f !== "test/tools-missing-are-named-once.test.ts");
    for (const tool of Object.keys(TOOLS) as ToolName[]) {
      const users = files.filter((f) =>
        new RegExp(`["'\`]${tool}["'\`]`).test(readFileSync(join(ROOT, f), "utf8")),
      );
      expect([...TOOLS[tool].tests].sort(), tool).toEqual(expect.arrayContaining(users.sort()));
    }
  });

  it("names each missing tool once, with its package, the tests it skips and the command that installs it", () => {
    const notice = missingToolsNotice((t) => t === "protoc");
    expect(notice).toContain("make test: 2 tool(s) not installed, so some checks are SKIPPED:");
    expect(notice).toContain(
      "  promtool (Debian package prometheus): skips checks in agent/queue/metrics-pass-promtool.test.ts",
    );
    expect(notice).toContain(
      "  yamllint (Debian package yamllint): skips checks in test/deploy/yaml-passes-yamllint.test.ts",
    );
    expect(notice).toContain("install them with: apt-get install prometheus yamllint");
    expect(notice.match(/promtool \(/g)).toHaveLength(1);
    expect(missingToolsNotice(() => true)).toBe("");
  });
});
