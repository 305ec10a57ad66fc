// yamllint (repository config .yamllint) accepts every YAML file in deploy/ and crds/.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { hasTool, ROOT } from "./manifests.ts";

describe("yamllint", () => {
  it("passes on deploy/ and crds/", (ctx) => {
    if (!hasTool("yamllint")) {
      console.warn("SKIPPED: yamllint not installed (Debian package `yamllint`)");
      ctx.skip();
    }
    let output = "";
    let status = 0;
    try {
      output = execFileSync("yamllint", ["--strict", "--format", "parsable", "deploy", "crds"], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      status = e.status;
      output = `${e.stdout}${e.stderr}`;
    }
    expect(output.trim().split("\n").filter(Boolean)).toEqual([]);
    expect(status).toBe(0);
  });
});
