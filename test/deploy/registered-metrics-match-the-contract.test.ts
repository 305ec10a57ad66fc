// The metric-name contract (test/deploy/metric-contract.ts, rendered into docs/metrics.md)
// against what the code really registers: every `create*Metrics(registry)` factory in
// agent/**/metrics.ts and aggregator/**/metrics.ts is run on a fresh registry, and each
// metric it registers must be in the contract with the same type and labels — so the
// docs, the alerts and the dashboard describe real series. Once the role-level
// agent/metrics.ts and aggregator/metrics.ts exist, every contract metric of a role must
// also be registered by it.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { createRegistry, Registry } from "../../shared/metrics.ts";
import { hasTool, ROOT } from "./manifests.ts";
import { AGENT_METRICS, AGGREGATOR_METRICS, CONTRACT_METRICS, type MetricSpec } from "./metric-contract.ts";
import { roleRegistries } from "./promql.ts";

function metricsModules(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f === "metrics.ts" || f.endsWith("/metrics.ts"))
    .filter((f) => !f.includes("node_modules") && !f.includes("fixtures"))
    .map((f) => join(ROOT, dir, f))
    .sort();
}

/** Name, type and labels of every metric on a registry. */
async function described(registry: Registry): Promise<MetricSpec[]> {
  const out: MetricSpec[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    const metric = registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] };
    out.push({
      name: m.name,
      type: String(m.type) as MetricSpec["type"],
      labels: [...(metric.labelNames ?? [])].sort(),
      help: m.help,
    });
  }
  return out;
}

const contract = new Map(CONTRACT_METRICS.map((m) => [m.name, m]));

describe("registered metrics", () => {
  it("every metric any module registers is in the contract with the same type and labels", async () => {
    const problems: string[] = [];
    let factories = 0;
    for (const file of [...metricsModules("agent"), ...metricsModules("aggregator")]) {
      const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      for (const [name, factory] of Object.entries(mod)) {
        if (!/^create\w*Metrics$/.test(name) || typeof factory !== "function") continue;
        factories++;
        const registry = createRegistry({ defaultMetrics: false });
        factory(registry);
        for (const m of await described(registry)) {
          const where = `${relative(ROOT, file)} ${name}: ${m.name}`;
          const want = contract.get(m.name);
          if (!want) {
            problems.push(
              `${where} is not in test/deploy/metric-contract.ts (docs/metrics.md is generated from it)`,
            );
            continue;
          }
          if (want.type !== m.type) problems.push(`${where} is a ${m.type}, the contract says ${want.type}`);
          const wantLabels = [...want.labels].sort();
          if (JSON.stringify(wantLabels) !== JSON.stringify(m.labels)) {
            problems.push(`${where} has labels [${m.labels}], the contract says [${wantLabels}]`);
          }
        }
      }
    }
    expect(factories, "metrics factories found").toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  for (const [file, specs] of [
    ["agent/metrics.ts", AGENT_METRICS],
    ["aggregator/metrics.ts", AGGREGATOR_METRICS],
  ] as const) {
    it(`${file} registers every contract metric of its role`, async (ctx) => {
      const registry = (await roleRegistries()).get(file);
      if (!registry) {
        console.warn(`SKIPPED: ${file} does not exist yet; the contract is checked per module above`);
        ctx.skip();
        return;
      }
      const have = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
      expect(specs.map((m) => m.name).filter((name) => !have.has(name))).toEqual([]);
    });

    it(`${file}: the role's /metrics exposition passes \`promtool check metrics\``, async (ctx) => {
      const registry = (await roleRegistries()).get(file);
      if (!registry || !hasTool("promtool")) {
        console.warn(
          `SKIPPED: ${registry ? "promtool not installed (Debian package prometheus)" : `${file} missing`}`,
        );
        ctx.skip();
        return;
      }
      // What /metrics serves (shared/http.ts renders registry.metrics()), default metrics included.
      const exposition = await Registry.merge([createRegistry(), registry]).metrics();
      expect(exposition).toContain("# TYPE kernel_gossip_");
      // promtool prints lint problems and exits 1; an exception here shows them.
      const out = execFileSync("promtool", ["check", "metrics"], { input: exposition, encoding: "utf8" });
      expect(out).toBe("");
    });
  }
});
