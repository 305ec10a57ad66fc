// Reference processes for the agent-memory breakdown, built the way the shipped agent is
// (scripts/build-dist.ts BUNDLE_OPTIONS: one minified esbuild bundle): each loads and sets up
// one part of what the agent carries, then idles, so the RSS each part adds over a bare Node
// process is measured side by side with the agent, in the same run (docs/adr/0010).
import { join } from "node:path";
import { build } from "esbuild";
import { BUNDLE_OPTIONS } from "../../scripts/build-dist.ts";
import { REPO_ROOT } from "../proc/child.ts";

const IDLE = `
const idle = setInterval(() => {}, 60_000);
process.stdout.write("ready\\n");
process.on("SIGTERM", () => { clearInterval(idle); process.exit(0); });
`;

const OTHER_DEPS = `
import { pino } from "pino";
import { LRUCache } from "lru-cache";
import protobuf from "protobufjs/minimal.js";
import WebSocket from "ws";
import { Registry, collectDefaultMetrics, Counter } from "prom-client";
const registry = new Registry();
DEFAULT_METRICS
new Counter({ name: "reference_total", help: "a counter", registers: [registry] }).inc();
const log = pino({ base: {} }, pino.destination({ dest: 2, sync: false }));
globalThis.keep = [registry, log, new LRUCache({ max: 10 }), protobuf.Writer.create(), WebSocket];
`;

export const REFERENCE_BUNDLES: { label: string; code: string }[] = [
  {
    label:
      "bundled: ws, prom-client with default metrics, pino, protobufjs, lru-cache (the agent's other dependencies)",
    code: OTHER_DEPS.replace("DEFAULT_METRICS", "collectDefaultMetrics({ register: registry });"),
  },
  {
    label: "bundled: the same without prom-client's default metrics",
    code: OTHER_DEPS.replace("DEFAULT_METRICS", ""),
  },
  {
    label:
      "bundled: @kubernetes/client-node KubeConfig + CoreV1Api + Watch (the agent's Kubernetes client before #18)",
    code: `
import { CoreV1Api, KubeConfig, Watch } from "@kubernetes/client-node";
const kc = new KubeConfig();
kc.loadFromOptions({ clusters: [{ name: "c", server: "https://127.0.0.1:1" }], users: [{ name: "u", token: "t" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
globalThis.keep = [kc.makeApiClient(CoreV1Api), new Watch(kc)];
`,
  },
  {
    label: "bundled: shared/kube-http.ts (the agent's Kubernetes client now)",
    code: `
import { KubeHttp } from "./shared/kube-http.ts";
globalThis.keep = [new KubeHttp({ server: () => "https://127.0.0.1:1", apply: () => {} })];
`,
  },
];

/** Builds each reference into `dir`; returns the files in REFERENCE_BUNDLES order. */
export async function buildReferenceBundles(dir: string): Promise<{ label: string; file: string }[]> {
  const out: { label: string; file: string }[] = [];
  for (const [i, { label, code }] of REFERENCE_BUNDLES.entries()) {
    const file = join(dir, `reference-bundle-${i}.mjs`);
    await build({
      ...BUNDLE_OPTIONS,
      stdin: {
        contents: `${code}\n${IDLE}`,
        resolveDir: REPO_ROOT,
        loader: "ts",
        sourcefile: `reference-${i}.ts`,
      },
      outfile: file,
    });
    out.push({ label, file });
  }
  return out;
}
