// Builds what the image ships (docs/adr/0010): one bundled, minified, tree-shaken ES module
// per role, plus the small command-line front that parses options and loads the role's file.
// Development, tests and the demo keep running the TypeScript sources directly (ADR 0001).
//   node scripts/build-dist.ts            dist/{kernel-gossip,agent,aggregator}.mjs
//   node scripts/build-dist.ts --metafile  also dist/*.meta.json (what each byte is), to inspect
// dist/ is build output: ignored by git, never committed.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build, type Metafile, type Plugin } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DIST = join(root, "dist");

/** Output file → source entry. The front imports the role files lazily by these names. */
export const DIST_FILES = {
  "kernel-gossip.mjs": "cli/main.ts",
  "agent.mjs": "cli/run-agent.ts",
  "aggregator.mjs": "cli/run-aggregator.ts",
} as const;

/**
 * Optional packages that bundled dependencies load inside try/catch and do well without
 * (ws's native add-ons, debug's colour detection). They are not installed in the image.
 */
export const OPTIONAL_PEERS = ["bufferutil", "utf-8-validate", "supports-color"] as const;

const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

/**
 * The front (cli/main.ts) imports each role lazily; in the build those imports point at the
 * role's own file next to it, so an agent never parses the aggregator's code. The demo needs a
 * development checkout (test/kube-api, kubectl, the CRD files) and is not built: the command
 * says so and how to run it.
 */
const front: Plugin = {
  name: "kernel-gossip-front",
  setup(b) {
    b.onResolve({ filter: /^\.\/run-(agent|aggregator)\.ts$/ }, (args) => ({
      path: `./${args.path.slice("./run-".length, -".ts".length)}.mjs`,
      external: true,
    }));
    b.onResolve({ filter: /^\.\.\/demo\/run\.ts$/ }, () => ({ path: "demo", namespace: "kg-demo" }));
    b.onLoad({ filter: /.*/, namespace: "kg-demo" }, () => ({
      contents: `export async function runDemo() {
  process.stderr.write("kernel-gossip demo: not part of this build (the image and dist/ carry the agent and the aggregator only). The demo starts a local Kubernetes API server and uses kubectl: run it from a development checkout with \`make demo\`.\\n");
  return 2;
}`,
      loader: "js",
    }));
  },
};

/** shared/version.ts reads package.json at run time; the build writes the version in. */
const versionInline: Plugin = {
  name: "kernel-gossip-version",
  setup(b) {
    b.onLoad({ filter: /[\\/]shared[\\/]version\.ts$/ }, () => ({
      contents: `export const VERSION = ${JSON.stringify(version)};`,
      loader: "ts",
    }));
  },
};

/**
 * node:http is loaded through require(), never as an ES module. Importing it as an ES module
 * makes Node build its module namespace, which reads every export — among them the lazy
 * `WebSocket`, `CloseEvent` and `MessageEvent` getters (Node 24), which load undici: about
 * 13 MiB RSS (7 MiB of it anonymous, 3 MiB of V8 heap) for code neither role runs. Measured:
 * `import "node:http"` 57 MiB RSS, `createRequire(import.meta.url)("node:http")` 44 MiB, a bare
 * process 41 MiB (Node 24.21, one process each). The sources keep ordinary imports; the build
 * hands every `import … from "node:http"` a CommonJS module that requires it (the banner's
 * require), which exports the same object.
 */
const httpViaRequire: Plugin = {
  name: "kernel-gossip-http-via-require",
  setup(b) {
    b.onResolve({ filter: /^(node:)?http$/ }, (args) =>
      args.kind === "import-statement" ? { path: "node:http", namespace: "kg-require" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "kg-require" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: "js",
    }));
  },
};

/** How every shipped file is bundled (the benchmarks' reference bundles use the same). */
export const BUNDLE_OPTIONS: BuildOptions = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  minify: true,
  treeShaking: true,
  // Bundled CommonJS packages (pino, prom-client, ws) call require() for Node built-ins.
  banner: {
    js: 'import { createRequire as __kgRequire } from "node:module"; const require = __kgRequire(import.meta.url);',
  },
  legalComments: "eof",
  logLevel: "warning",
  external: [...OPTIONAL_PEERS],
  plugins: [httpViaRequire],
};

export interface BuiltFile {
  file: string;
  bytes: number;
  /** esbuild's metafile output entry (what went in, what it imports), when asked for. */
  meta?: Metafile["outputs"][string];
}

/** Builds every file of DIST_FILES into `outDir` (default dist/, emptied first). */
export async function buildDist(options: { outDir?: string; metafile?: boolean } = {}): Promise<BuiltFile[]> {
  const outDir = options.outDir ?? DIST;
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const common: BuildOptions = {
    ...BUNDLE_OPTIONS,
    metafile: options.metafile === true,
    plugins: [...(BUNDLE_OPTIONS.plugins ?? []), front, versionInline],
  };
  const built: BuiltFile[] = [];
  for (const [out, entry] of Object.entries(DIST_FILES)) {
    const outfile = join(outDir, out);
    const result = await build({ ...common, entryPoints: [join(root, entry)], outfile });
    const meta = result.metafile?.outputs[relative(process.cwd(), outfile)];
    built.push({ file: outfile, bytes: statSync(outfile).size, meta });
    if (result.metafile)
      writeFileSync(`${outfile.replace(/\.mjs$/, "")}.meta.json`, JSON.stringify(result.metafile));
  }
  return built;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = await buildDist({ metafile: process.argv.includes("--metafile") });
  for (const { file, bytes } of built)
    console.log(`${relative(root, file)}  ${(bytes / 1024).toFixed(0)} KiB`);
}
