// Renders the generated parts of the operator documentation and deploy/monitoring from
// their single sources, so they cannot drift:
//   docs/operations.md  ← agent/options.ts, aggregator/options/index.ts, the agent ConfigMap
//   docs/metrics.md     ← test/deploy/metric-contract.ts
//   deploy/monitoring/prometheusrule.yaml ← deploy/monitoring/rules.yaml
//
//   node scripts/gen-config-docs.ts          rewrite the generated parts
//   node scripts/gen-config-docs.ts --check  exit 1 and name the stale files
//
// In the markdown files only the text between `<!-- BEGIN GENERATED: name -->` and
// `<!-- END GENERATED: name -->` is rewritten; the rest is prose, edited by hand.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Document, isMap, isScalar, parse, parseDocument, Scalar, visit } from "yaml";
import { AGENT_OPTIONS } from "../agent/options.ts";
import { FORMER_CONFIG_KEYS } from "../aggregator/config-push/parse.ts";
import { AGGREGATOR_OPTIONS } from "../aggregator/options/index.ts";
import { DEPRECATED_NAMES_REMOVED_IN, flagOf, type OptionSpecs } from "../shared/options.ts";
import { AGENT_METRICS, AGGREGATOR_METRICS, type MetricSpec } from "../test/deploy/metric-contract.ts";

export const ROOT = resolve(import.meta.dirname, "..");
export const AGENT_CONFIGMAP_PATH = "deploy/base/agent/configmap.yaml";
export const RULES_PATH = "deploy/monitoring/rules.yaml";
export const PROMETHEUS_RULE_PATH = "deploy/monitoring/prometheusrule.yaml";

/**
 * Keys of the agent ConfigMap (pushed live by the aggregator) → the agent option each
 * one overrides. The ConfigMap's shipped values must equal those options' defaults.
 */
export const CONFIGMAP_KEY_TO_AGENT_OPTION = {
  dedupCooldown: "dedupCooldown",
  maxBatchEvents: "maxBatchEvents",
  flushInterval: "flushInterval",
  extraReasons: "extraReasons",
  throttleThreshold: "throttleThreshold",
  throttleResolveAfter: "throttleResolveAfter",
  throttleUpdateInterval: "throttleUpdateInterval",
  memoryThreshold: "memoryThreshold",
  memoryWindow: "memoryWindow",
  memoryStallThreshold: "memoryStallThreshold",
  memoryResolveAfter: "memoryResolveAfter",
  memoryUpdateInterval: "memoryUpdateInterval",
  scanInterval: "scanInterval",
  namespaceAllow: "namespaceAllow",
  namespaceDeny: "namespaceDeny",
  namespaceLabelSelector: "namespaceLabelSelector",
} as const satisfies Record<string, keyof typeof AGENT_OPTIONS>;

export interface ConfigMapKey {
  key: string;
  value: string;
  /** The comment above the key in the manifest. */
  doc: string;
}

/** The agent ConfigMap's keys in file order, with the comment above each. */
export function readAgentConfigMap(root = ROOT): ConfigMapKey[] {
  const doc = parseDocument(readFileSync(join(root, AGENT_CONFIGMAP_PATH), "utf8"));
  const data = doc.get("data");
  if (!isMap(data)) throw new Error(`${AGENT_CONFIGMAP_PATH}: no data map`);
  return data.items.map((pair, i) => {
    if (!isScalar(pair.key) || !isScalar(pair.value)) {
      throw new Error(`${AGENT_CONFIGMAP_PATH}: every data entry must be a plain key: "string"`);
    }
    // The yaml library attaches the comment above a map's first key to the map itself.
    const comment = pair.key.commentBefore ?? (i === 0 ? data.commentBefore : undefined);
    const doc = (comment ?? "")
      .split("\n")
      .map((line) => line.trim())
      .join(" ")
      .trim();
    return { key: String(pair.key.value), value: String(pair.value.value), doc };
  });
}

const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
const code = (text: string): string => (text === "" ? '`""`' : `\`${text}\``);

function optionsTable(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([key, spec]) => {
    const type = spec.type === "enum" ? (spec.values ?? []).join(" \\| ") : spec.type;
    const def = spec.required ? "**required**" : spec.default !== undefined ? code(spec.default) : "unset";
    const former = [spec.formerly?.flag, spec.formerly?.env && `$${spec.formerly.env}`].filter(Boolean);
    const renamed = former.length
      ? ` Formerly ${former.map((n) => `\`${n}\``).join(" / ")}: still accepted with a warning, removed in ${DEPRECATED_NAMES_REMOVED_IN}.`
      : "";
    return `| \`${spec.env}\` | \`${flagOf(key)}\` | ${type} | ${def} | ${cell(spec.help)}${renamed} |`;
  });
  return [
    "| Environment | Flag | Type | Default | Meaning |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

function configMapTable(root: string): string {
  const rows = readAgentConfigMap(root).map(({ key, value, doc }) => {
    const option = CONFIGMAP_KEY_TO_AGENT_OPTION[key as keyof typeof CONFIGMAP_KEY_TO_AGENT_OPTION];
    const env = option ? `\`${AGENT_OPTIONS[option].env}\`` : "—";
    return `| \`${key}\` | ${code(value)} | ${env} | ${cell(doc)} |`;
  });
  const former = Object.entries(FORMER_CONFIG_KEYS).map(([old, key]) => `\`${old}\` → \`${key}\``);
  return [
    "| Key | Default | Agent variable it overrides | Meaning |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
    `Renamed keys (the old name is still accepted, with a warning in the aggregator's log, until ${DEPRECATED_NAMES_REMOVED_IN}): ${former.join(", ")}.`,
  ].join("\n");
}

function metricsTable(metrics: readonly MetricSpec[]): string {
  const rows = metrics.map(
    (m) =>
      `| \`${m.name}\` | ${m.type} | ${m.labels.length ? m.labels.map((l) => `\`${l}\``).join(", ") : "—"} | ${cell(m.help)} |`,
  );
  return ["| Metric | Type | Labels | Meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** Replaces the text between the named markers; throws when they are missing. */
export function replaceGenerated(text: string, name: string, body: string, file: string): string {
  const begin = `<!-- BEGIN GENERATED: ${name} -->`;
  const end = `<!-- END GENERATED: ${name} -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from === -1 || to === -1 || to < from) {
    throw new Error(`${file}: markers "${begin}" … "${end}" are missing`);
  }
  return `${text.slice(0, from + begin.length)}\n${body}\n${text.slice(to)}`;
}

export function renderPrometheusRule(root = ROOT): string {
  const rules = parse(readFileSync(join(root, RULES_PATH), "utf8")) as { groups?: unknown };
  if (!Array.isArray(rules?.groups)) throw new Error(`${RULES_PATH}: no groups`);
  const object = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: {
      name: "kernel-gossip",
      labels: { "app.kubernetes.io/name": "kernel-gossip", "app.kubernetes.io/component": "monitoring" },
    },
    spec: { groups: rules.groups },
  };
  // Long strings as folded block scalars: short lines for yamllint, and a layout the
  // repository's formatter (biome) leaves alone.
  const doc = new Document(object);
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === "string" && node.value.length > 60) node.type = Scalar.BLOCK_FOLDED;
    },
  });
  return `# GENERATED from rules.yaml by scripts/gen-config-docs.ts; edit rules.yaml, then run\n# node scripts/gen-config-docs.ts\n${doc.toString({ lineWidth: 100 })}`;
}

/**
 * The repository's formatter (biome, which also formats Markdown and YAML) applied to a
 * generated file, so that `biome check .` and `--check` agree on one layout.
 */
export function formatLikeTheRepo(root: string, file: string, text: string): string {
  const biome = join(root, "node_modules", ".bin", "biome");
  const result = spawnSync(biome, ["format", `--stdin-file-path=${file}`], {
    cwd: root,
    input: text,
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new Error(
      `formatting ${file} with ${biome} failed (run npm ci first): ${result.stderr || result.error}`,
    );
  }
  return result.stdout;
}

/** Every generated file with the content it should have. */
export function renderAll(root = ROOT): Map<string, string> {
  const out = new Map<string, string>();
  const ops = "docs/operations.md";
  let text = readFileSync(join(root, ops), "utf8");
  text = replaceGenerated(text, "agent-options", optionsTable(AGENT_OPTIONS), ops);
  text = replaceGenerated(text, "aggregator-options", optionsTable(AGGREGATOR_OPTIONS), ops);
  text = replaceGenerated(text, "agent-configmap", configMapTable(root), ops);
  out.set(ops, formatLikeTheRepo(root, ops, text));
  const metrics = "docs/metrics.md";
  let mtext = readFileSync(join(root, metrics), "utf8");
  mtext = replaceGenerated(mtext, "agent-metrics", metricsTable(AGENT_METRICS), metrics);
  mtext = replaceGenerated(mtext, "aggregator-metrics", metricsTable(AGGREGATOR_METRICS), metrics);
  out.set(metrics, formatLikeTheRepo(root, metrics, mtext));
  out.set(PROMETHEUS_RULE_PATH, renderPrometheusRule(root));
  return out;
}

/** Files whose content differs from what renderAll produces. */
export function staleFiles(root = ROOT): string[] {
  const stale: string[] = [];
  for (const [file, want] of renderAll(root)) {
    let have = "";
    try {
      have = readFileSync(join(root, file), "utf8");
    } catch {}
    if (have !== want) stale.push(file);
  }
  return stale;
}

if (import.meta.main) {
  if (process.argv.includes("--check")) {
    const stale = staleFiles();
    if (stale.length > 0) {
      console.error(`out of date: ${stale.join(", ")}\nrun: node scripts/gen-config-docs.ts`);
      process.exit(1);
    }
    console.log("generated docs and rules are up to date");
  } else {
    for (const [file, text] of renderAll()) writeFileSync(join(ROOT, file), text);
    console.log(`wrote ${[...renderAll().keys()].join(", ")}`);
  }
}
