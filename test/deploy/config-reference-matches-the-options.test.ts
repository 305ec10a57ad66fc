// docs/operations.md, docs/metrics.md and the PrometheusRule are generated; they must be
// current. The agent ConfigMap documents every live tunable, and what it ships must be
// what the agent would do without it: the same keys, values the agent's own option
// parser accepts, equal to the built-in defaults.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AGENT_OPTIONS } from "../../agent/options.ts";
import { CONFIG_KEYS, parseAgentConfig } from "../../aggregator/config-push/parse.ts";
import { AGGREGATOR_OPTIONS } from "../../aggregator/options/index.ts";
import {
  CONFIGMAP_KEY_TO_AGENT_OPTION,
  readAgentConfigMap,
  renderAll,
  staleFiles,
} from "../../scripts/gen-config-docs.ts";
import { parseOptions } from "../../shared/options.ts";
import { find, kustomize, ROOT } from "./manifests.ts";

const tmp = mkdtempSync(join(tmpdir(), "kg-docs-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("configuration reference", () => {
  it("docs/operations.md, docs/metrics.md and prometheusrule.yaml are up to date", () => {
    expect(staleFiles(), "run: node scripts/gen-config-docs.ts").toEqual([]);
  });

  it("documents every agent and aggregator option with its variable and default", () => {
    const ops = renderAll().get("docs/operations.md") ?? "";
    const section = (name: string) =>
      ops.slice(ops.indexOf(`BEGIN GENERATED: ${name}`), ops.indexOf(`END GENERATED: ${name}`));
    const roles = [
      ["agent-options", AGENT_OPTIONS],
      ["aggregator-options", AGGREGATOR_OPTIONS],
    ] as const;
    for (const [name, specs] of roles) {
      const rows = section(name).split("\n");
      for (const spec of Object.values(specs)) {
        const row = rows.find((line) => new RegExp(`^\\|\\s*\`${spec.env}\`\\s*\\|`).test(line));
        expect(row, `${name}: ${spec.env}`).toBeDefined();
        if ("default" in spec && spec.default !== "") expect(row).toContain(`\`${spec.default}\``);
      }
    }
  });

  it("the --check mode names a stale file and says how to fix it", () => {
    // A copy of the inputs with one option's help changed: the check must notice.
    for (const dir of ["docs", "deploy", "agent", "aggregator", "shared", "scripts", "test/deploy"]) {
      cpSync(join(ROOT, dir), join(tmp, dir), { recursive: true });
    }
    cpSync(join(ROOT, "biome.json"), join(tmp, "biome.json"));
    cpSync(join(ROOT, ".gitignore"), join(tmp, ".gitignore"));
    symlinkSync(join(ROOT, "node_modules"), join(tmp, "node_modules"));
    const opts = join(tmp, "aggregator/options/process.ts");
    writeFileSync(opts, readFileSync(opts, "utf8").replace("Cluster name put on every record.", "Renamed."));
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync(process.execPath, [join(tmp, "scripts/gen-config-docs.ts"), "--check"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (err) {
      failure = err as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(1);
    expect(failure?.stderr).toContain("out of date: docs/operations.md");
    expect(failure?.stderr).toContain("run: node scripts/gen-config-docs.ts");
  });
});

describe("agent ConfigMap", () => {
  const keys = readAgentConfigMap();

  it("has exactly the live tunables, each documented inline", () => {
    expect(keys.map((k) => k.key).sort()).toEqual(Object.keys(CONFIGMAP_KEY_TO_AGENT_OPTION).sort());
    for (const k of keys) expect(k.doc.length, `comment above ${k.key}`).toBeGreaterThan(20);
  });

  it("ships values the agent's option parser accepts, equal to its built-in defaults", () => {
    for (const { key, value } of keys) {
      const option = CONFIGMAP_KEY_TO_AGENT_OPTION[key as keyof typeof CONFIGMAP_KEY_TO_AGENT_OPTION];
      const spec = AGENT_OPTIONS[option];
      const single = { [option]: spec };
      const fromConfigMap = parseOptions(single, [], { [spec.env]: value });
      const builtIn = parseOptions(single, [], {});
      expect(fromConfigMap, key).toEqual(builtIn);
    }
  });

  it("is accepted whole by the aggregator's ConfigMap parser, as is the example overlay's patch", () => {
    expect([...CONFIG_KEYS].sort()).toEqual(keys.map((k) => k.key).sort());
    const shipped = Object.fromEntries(keys.map((k) => [k.key, k.value]));
    expect(find(kustomize("deploy/base"), "ConfigMap", "kernel-gossip-agent-config").data).toEqual(shipped);
    expect(parseAgentConfig(shipped, "shipped")).toMatchObject({ ok: true });
    // A strategic-merge patch of a ConfigMap's data replaces the keys it names.
    const patch = parse(readFileSync(join(ROOT, "deploy/overlays/example/agent-config.yaml"), "utf8"));
    const patched = parseAgentConfig({ ...shipped, ...patch.data }, "example");
    expect(patched).toMatchObject({
      ok: true,
      frame: {
        namespaceLabelSelector: "kernel-gossip.io/enabled=true",
        enabledReasons: ["CrashLoopBackOff", "OOMKilled", "ImagePullBackOff", "CreateContainerConfigError"],
      },
    });
  });
});
