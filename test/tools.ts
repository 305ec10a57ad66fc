// The external programs some tests use to judge the product by someone else's rules
// (protoc reads our frames, promtool checks our metrics and rules, yamllint our YAML). They
// are Debian packages, not npm ones: .ci/run installs them; on a machine without them `make
// test` says once, at the start, which tests it skips and how to get them (global-setup.ts).
import { spawnSync } from "node:child_process";

export interface Tool {
  /** The Debian package that brings it. */
  package: string;
  /** Test files that skip (in part) without it. A test keeps this list complete. */
  tests: readonly string[];
}

export const TOOLS = {
  protoc: {
    package: "protobuf-compiler",
    tests: [
      "proto/old-agents-talk-to-new-aggregators.test.ts",
      "proto/protoc-decodes-a-frame-captured-from-the-agent.test.ts",
    ],
  },
  promtool: {
    package: "prometheus",
    tests: [
      "agent/queue/metrics-pass-promtool.test.ts",
      "agent/cgroup/metrics-pass-promtool.test.ts",
      "aggregator/pipeline/pipeline-metrics-pass-promtool.test.ts",
      "aggregator/stream/link-and-stream-metrics-pass-promtool.test.ts",
      "test/deploy/alerts-and-dashboard-query-only-exported-metrics.test.ts",
      "test/deploy/registered-metrics-match-the-contract.test.ts",
      "test/e2e/live-metrics-pass-promtool.test.ts",
    ],
  },
  yamllint: { package: "yamllint", tests: ["test/deploy/yaml-passes-yamllint.test.ts"] },
} as const satisfies Record<string, Tool>;

export type ToolName = keyof typeof TOOLS;

export function installed(tool: ToolName): boolean {
  return spawnSync(tool, ["--version"], { stdio: "ignore" }).status === 0;
}

/** One paragraph naming every missing tool, the tests it skips and the fix; "" when none is missing. */
export function missingToolsNotice(have: (tool: ToolName) => boolean = installed): string {
  const missing = (Object.keys(TOOLS) as ToolName[]).filter((t) => !have(t));
  if (missing.length === 0) return "";
  const lines = missing.map(
    (t) => `  ${t} (Debian package ${TOOLS[t].package}): skips checks in ${TOOLS[t].tests.join(", ")}`,
  );
  const packages = missing.map((t) => TOOLS[t].package).join(" ");
  return `make test: ${missing.length} tool(s) not installed, so some checks are SKIPPED:\n${lines.join("\n")}\n  install them with: apt-get install ${packages}   (or run .ci/run, which does)\n`;
}
