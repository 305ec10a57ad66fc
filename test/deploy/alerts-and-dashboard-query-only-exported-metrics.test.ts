// The alerts and the dashboard are only as good as the names they query: a renamed
// metric makes an alert silently never fire. Every PromQL expression must parse
// (Prometheus' own grammar; promtool for the rules) and select only metrics that
// kernel-gossip exports.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { renderPrometheusRule } from "../../scripts/gen-config-docs.ts";
import { hasTool, ROOT } from "./manifests.ts";
import { dashboardQueries, exportedSeries, parsePromQL, substituteGrafanaVariables } from "./promql.ts";

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rulesPath = join(ROOT, "deploy/monitoring/rules.yaml");
const groups = (parse(readFileSync(rulesPath, "utf8")) as { groups: { name: string; rules: AlertRule[] }[] })
  .groups;
const alerts = groups.flatMap((g) => g.rules).filter((r) => r.alert);

const tmp = mkdtempSync(join(tmpdir(), "kg-deploy-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function promtoolCheckRules(file: string): string {
  return execFileSync("promtool", ["check", "rules", file], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** GitHub's anchor for a markdown heading. */
const anchorOf = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, "")
    .replace(/\s/g, "-");

describe("alert rules", () => {
  it("pass `promtool check rules`", (ctx) => {
    if (!hasTool("promtool")) {
      console.warn("SKIPPED: promtool not installed (Debian package `prometheus`)");
      ctx.skip();
    }
    expect(promtoolCheckRules(rulesPath)).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it("cover the failures that matter, each with a severity, summary, description and runbook", () => {
    const names = alerts.map((a) => a.alert);
    for (const required of [
      "KernelGossipAgentDown",
      "KernelGossipAgentDroppingEvents",
      "KernelGossipAggregatorWriteFailures",
      "KernelGossipCriticalWhispers",
    ]) {
      expect(names).toContain(required);
    }
    const troubleshooting = readFileSync(join(ROOT, "docs/troubleshooting.md"), "utf8");
    const anchors = new Set(
      [...troubleshooting.matchAll(/^#{1,4} (.+)$/gm)].map((m) => anchorOf(m[1] ?? "")),
    );
    for (const a of alerts) {
      expect(["critical", "warning", "info"], `${a.alert} severity`).toContain(a.labels?.severity);
      expect(a.annotations?.summary, `${a.alert} summary`).toBeTruthy();
      expect(a.annotations?.description, `${a.alert} description`).toBeTruthy();
      const anchor = /docs\/troubleshooting\.md#([\w-]+)$/.exec(a.annotations?.runbook_url ?? "")?.[1];
      expect(anchor, `${a.alert} runbook_url points into docs/troubleshooting.md`).toBeDefined();
      expect(
        anchors.has(anchor ?? ""),
        `${a.alert}: docs/troubleshooting.md has a heading for #${anchor}`,
      ).toBe(true);
    }
  });

  it("are shipped identically as the PrometheusRule object", () => {
    const object = parse(readFileSync(join(ROOT, "deploy/monitoring/prometheusrule.yaml"), "utf8"));
    expect(object.spec.groups).toEqual(groups);
    expect(readFileSync(join(ROOT, "deploy/monitoring/prometheusrule.yaml"), "utf8")).toBe(
      renderPrometheusRule(),
    );
  });

  it("select only metrics kernel-gossip exports", async () => {
    const exported = await exportedSeries();
    const unknown: string[] = [];
    for (const rule of alerts) {
      const { metrics, errors } = parsePromQL(rule.expr);
      expect(errors, `${rule.alert}: ${rule.expr}`).toEqual([]);
      expect(metrics.length, `${rule.alert} selects a metric`).toBeGreaterThan(0);
      for (const m of metrics) if (!exported.has(m)) unknown.push(`${rule.alert}: ${m}`);
    }
    expect(unknown).toEqual([]);
  });
});

describe("Grafana dashboard", () => {
  const queries = dashboardQueries();

  it("parses and has panels for agent health, throttling, OOM kills, writes and latency", () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, "deploy/monitoring/dashboard.json"), "utf8"));
    expect(dashboard.uid).toBe("kernel-gossip");
    const all = queries.map((q) => q.expr).join("\n");
    for (const metric of [
      "kernel_gossip_agent_link_connected",
      "kernel_gossip_container_cpu_throttled_ratio",
      "kernel_gossip_container_oom_kills_total",
      "kernel_gossip_aggregator_cr_writes_total",
      "kernel_gossip_aggregator_end_to_end_latency_seconds_bucket",
    ]) {
      expect(all).toContain(metric);
    }
    expect(all).toMatch(/topk\(\$topn/);
  });

  it("lays its panels out on Grafana's 24-column grid without overlaps, with unique ids", () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, "deploy/monitoring/dashboard.json"), "utf8")) as {
      panels: { id: number; title: string; gridPos: { x: number; y: number; w: number; h: number } }[];
    };
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Map<string, string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          const taken = cells.get(`${i},${j}`);
          expect(taken, `"${p.title}" overlaps "${taken}"`).toBeUndefined();
          cells.set(`${i},${j}`, p.title);
        }
      }
    }
  });

  it("queries only metrics kernel-gossip exports, in valid PromQL", async () => {
    const exported = await exportedSeries();
    const problems: string[] = [];
    for (const q of queries) {
      const { metrics, errors } = parsePromQL(substituteGrafanaVariables(q.expr));
      for (const e of errors) problems.push(`${q.where}: syntax error ${e}`);
      if (metrics.length === 0) problems.push(`${q.where}: selects no metric`);
      for (const m of metrics) if (!exported.has(m)) problems.push(`${q.where}: unknown metric ${m}`);
    }
    expect(problems).toEqual([]);
  });

  it("passes promtool's PromQL parser too (as recording rules)", (ctx) => {
    if (!hasTool("promtool")) {
      console.warn("SKIPPED: promtool not installed (Debian package `prometheus`)");
      ctx.skip();
    }
    const rules = queries.map((q, i) => ({
      record: `dashboard:query_${i}`,
      expr: substituteGrafanaVariables(q.expr),
    }));
    const file = join(tmp, "dashboard-rules.yaml");
    writeFileSync(file, stringify({ groups: [{ name: "dashboard", rules }] }));
    expect(promtoolCheckRules(file)).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});

describe("PromQL name extraction", () => {
  it("finds selected metrics and ignores functions, labels, durations and grouping", () => {
    const q = parsePromQL(
      'histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y"}[5m]))) / on(node) group_left max(b) and up offset 1m',
    );
    expect(q).toEqual({ metrics: ["a_bucket", "b", "up"], errors: [] });
    expect(parsePromQL("sum(rate(a[5m])").errors.length).toBeGreaterThan(0);
  });
});
