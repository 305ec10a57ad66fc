// Composition is written once: the stages a role wires together are built by the factories
// its main uses (agent/wiring.ts, agent/delivery.ts, aggregator/wiring.ts), and tests,
// the demo and the benchmarks call those factories instead of copying the wiring. A stage's
// own folder may construct it (its unit tests and test support), and so may a benchmark
// that measures that one stage alone. Anything else fails here, naming the factory to use.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");

/** construction → where it may appear (path prefixes), and what to call elsewhere. */
const RULES: { made: RegExp; allowed: string[]; use: string }[] = [
  { made: /new AgentLink\(/, allowed: ["agent/delivery.ts"], use: "createLink (agent/delivery.ts)" },
  {
    made: /new (Outbox|Deduplicator)\(/,
    allowed: ["agent/delivery.ts", "agent/queue/"],
    use: "createQueue / createDedup / createDelivery (agent/delivery.ts)",
  },
  {
    made: /new (PodWatch|NamespaceScope|FailureReporter|BirthRecorder|PodReporter)\(/,
    allowed: ["agent/wiring.ts", "agent/pods/"],
    use: "createPodPipeline (agent/wiring.ts)",
  },
  {
    made: /new CgroupSampler\(/,
    allowed: ["agent/wiring.ts", "agent/cgroup/", "bench/cgroup-scan/"],
    use: "createPodPipeline (agent/wiring.ts)",
  },
  {
    made: /Spool\.open\(/,
    allowed: ["agent/wiring.ts", "agent/spool/", "bench/spool/"],
    use: "openSpool (agent/wiring.ts)",
  },
  {
    made: /new BatchPipeline\(/,
    allowed: ["aggregator/wiring.ts", "aggregator/pipeline/"],
    use: "createPipeline (aggregator/wiring.ts)",
  },
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory())
      return ["node_modules", "dist", "gen", ".git"].includes(e.name) || e.name.startsWith(".")
        ? []
        : sources(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

it("tests, the demo and the benchmarks build agent and aggregator stages with the roles' factories", () => {
  const copies: string[] = [];
  for (const file of sources(ROOT)) {
    const path = relative(ROOT, file);
    const text = readFileSync(file, "utf8");
    for (const rule of RULES) {
      if (rule.allowed.some((prefix) => path.startsWith(prefix))) continue;
      const m = rule.made.exec(text);
      if (m) copies.push(`${path}: ${m[0]} — use ${rule.use}`);
    }
  }
  expect(copies).toEqual([]);
});
