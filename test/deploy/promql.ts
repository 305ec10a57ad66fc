// PromQL inspection for the monitoring tests, with Prometheus' own grammar
// (@prometheus-io/lezer-promql, the parser behind the Prometheus UI), and the set of
// metric names kernel-gossip really exports.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parser } from "@prometheus-io/lezer-promql";
import { createRegistry, type Registry } from "../../shared/metrics.ts";
import { ROOT } from "./manifests.ts";
import { CONTRACT_METRICS, seriesNames } from "./metric-contract.ts";

export interface ParsedQuery {
  /** Metric names the query selects. */
  metrics: string[];
  /** Syntax errors, as "at offset N: …context…". */
  errors: string[];
}

export function parsePromQL(expr: string): ParsedQuery {
  const metrics: string[] = [];
  const errors: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError)
        errors.push(`at offset ${node.from}: …${expr.slice(Math.max(0, node.from - 20), node.from + 20)}…`);
      if (node.name === "VectorSelector") {
        const id = node.node.getChild("Identifier");
        if (id) metrics.push(expr.slice(id.from, id.to));
      }
    },
  });
  return { metrics, errors };
}

/** Replaces Grafana's template variables with values Prometheus accepts. */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range/g, "5m")
    .replace(/\$topn\b/g, "10")
    .replace(/\$\{?\w+\}?/g, ".*");
}

/** Grafana's `label_values(metric, label)` → the metric, or the query itself. */
export function templateQueryExpr(query: string): string {
  const match = /^\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*$/.exec(query);
  return match?.[1] ?? query;
}

/** Series names a registry exports (histograms as _bucket/_sum/_count). */
export async function registrySeries(registry: Registry): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    for (const s of seriesNames({
      name: m.name,
      type: String(m.type) === "histogram" ? "histogram" : "gauge",
    }))
      names.add(s);
  }
  return names;
}

export const ROLE_METRICS_MODULES = [
  { file: "agent/metrics.ts", factory: "createAgentMetrics" },
  { file: "aggregator/metrics.ts", factory: "createAggregatorMetrics" },
] as const;

/**
 * Each role's registry with every metric the role registers, from the role's
 * `create<Role>Metrics(registry)` in agent/metrics.ts and aggregator/metrics.ts;
 * undefined for a role whose file does not exist yet.
 */
export async function roleRegistries(): Promise<Map<string, Registry | undefined>> {
  const out = new Map<string, Registry | undefined>();
  for (const { file, factory } of ROLE_METRICS_MODULES) {
    const path = join(ROOT, file);
    if (!existsSync(path)) {
      out.set(file, undefined);
      continue;
    }
    const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    const create = mod[factory];
    if (typeof create !== "function") throw new Error(`${file} does not export ${factory}(registry)`);
    const registry = createRegistry({ defaultMetrics: false });
    create(registry);
    out.set(file, registry);
  }
  return out;
}

/**
 * Every series name a query may use: the contract, whatever the roles' registries
 * register, prom-client's default process and Node.js metrics, and Prometheus' own `up`.
 */
export async function exportedSeries(): Promise<Set<string>> {
  const names = new Set<string>(["up"]);
  for (const spec of CONTRACT_METRICS) for (const s of seriesNames(spec)) names.add(s);
  for (const s of await registrySeries(createRegistry({ defaultMetrics: true }))) names.add(s);
  for (const registry of (await roleRegistries()).values()) {
    if (registry) for (const s of await registrySeries(registry)) names.add(s);
  }
  return names;
}

export interface DashboardQuery {
  where: string;
  expr: string;
}

/** Every PromQL expression in a Grafana dashboard: panel targets and template queries. */
export function dashboardQueries(path = join(ROOT, "deploy/monitoring/dashboard.json")): DashboardQuery[] {
  const dashboard = JSON.parse(readFileSync(path, "utf8")) as {
    panels: { title: string; panels?: unknown[]; targets?: { expr?: string; refId: string }[] }[];
    templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
  };
  const out: DashboardQuery[] = [];
  const walk = (panels: typeof dashboard.panels) => {
    for (const panel of panels) {
      for (const t of panel.targets ?? []) {
        if (t.expr !== undefined) out.push({ where: `panel "${panel.title}" ${t.refId}`, expr: t.expr });
      }
      if (panel.panels) walk(panel.panels as typeof dashboard.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list.filter((v) => v.type === "query")) {
    const query = typeof v.query === "string" ? v.query : (v.query?.query ?? "");
    out.push({ where: `variable $${v.name}`, expr: templateQueryExpr(query) });
  }
  return out;
}
