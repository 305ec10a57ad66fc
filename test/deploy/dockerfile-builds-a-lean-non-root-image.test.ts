// No container engine exists on these machines, so the Dockerfile is checked statically —
// its stages, base image, user and entry point — and what it ships is checked for real:
// the build stage copies every source file the bundles are built from, and the bundles
// (built here, as the build stage does) import nothing but Node built-ins and each other,
// so the runtime stage needs no node_modules (docs/adr/0011).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { basename, join, matchesGlob, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuiltFile, buildDist, DIST_FILES, OPTIONAL_PEERS } from "../../scripts/build-dist.ts";
import { ROOT } from "./manifests.ts";

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile → stages (line continuations joined, comments dropped, ARG defaults substituted). */
function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, " ").split("\n");
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [op = "", ...rest] = line.split(/\s+/);
    const argText = rest.join(" ");
    const upper = op.toUpperCase();
    if (upper === "ARG" && stages.length === 0) {
      const [name = "", value = ""] = argText.split("=");
      args.set(name, value);
    } else if (upper === "FROM") {
      const [image = "", as, name] = argText
        .replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? "")
        .split(/\s+/);
      stages.push({ image, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile: ${op} before the first FROM`);
      stage.instructions.push({ op: upper, args: argText });
    }
  }
  return stages;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
const runtime = dockerfile.at(-1) as Stage;
// Which installed packages are devDependencies (or only needed by them): package-lock says.
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { dev?: boolean }>;
};
const dockerignore = readFileSync(join(ROOT, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));
const ignored = (file: string) =>
  dockerignore.some((p) => matchesGlob(file, p) || matchesGlob(file, `${p}/**`));

/** What a stage COPYs: sources from the context, and destinations filled from other stages. */
function copies(stage: Stage): { fromContext: string[]; fromStages: string[] } {
  const fromContext: string[] = [];
  const fromStages: string[] = [];
  for (const { op, args } of stage.instructions.filter((i) => i.op === "COPY")) {
    const parts = args.split(/\s+/);
    const from = parts.find((p) => p.startsWith("--from="));
    const paths = parts.filter((p) => !p.startsWith("--"));
    const sources = paths.slice(0, -1);
    expect(op).toBe("COPY");
    if (from) fromStages.push(...paths.slice(-1).map((p) => p.replace(/\/$/, "")));
    else fromContext.push(...sources.map((p) => p.replace(/\/$/, "")));
  }
  return { fromContext, fromStages };
}

describe("Dockerfile", () => {
  const build = dockerfile[0] as Stage;
  let tmp: string;
  let built: BuiltFile[];
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "kg-dist-"));
    built = await buildDist({ outDir: tmp, metafile: true });
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("is multi-stage on node:24-bookworm-slim", () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile) expect(stage.image).toBe("node:24-bookworm-slim");
    expect(dockerfile.map((s) => s.name)).toEqual(["build", "runtime"]);
  });

  it("generates the protocol code and builds dist/ in the build stage; the runtime stage copies only dist/ from it", () => {
    const buildRuns = build.instructions.filter((i) => i.op === "RUN").map((i) => i.args);
    expect(buildRuns.join(" ")).toMatch(/npm ci\b/);
    expect(buildRuns.join(" ")).toContain("scripts/gen-proto.ts --check");
    expect(buildRuns.join(" ")).toContain("scripts/build-dist.ts");
    const fromBuild = runtime.instructions.filter((i) => i.op === "COPY" && i.args.includes("--from="));
    expect(fromBuild.map((i) => i.args.replace(/\s+/g, " "))).toEqual(["--from=build /src/dist/ dist/"]);
  });

  it("installs nothing in the runtime stage: no npm, no node_modules, no sources", () => {
    const runs = runtime.instructions.filter((i) => i.op === "RUN").map((i) => i.args);
    expect(runs.filter((r) => /\bnpm\b/.test(r))).toEqual([]);
    const { fromContext } = copies(runtime);
    expect(fromContext).toEqual(["bin"]);
  });

  it("runs as a numeric non-root user with the kernel-gossip entry point, which runs the bundle", () => {
    const users = runtime.instructions.filter((i) => i.op === "USER").map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1) as string;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(user.split(":")[0]).not.toBe("0");
    const entrypoint = runtime.instructions.find((i) => i.op === "ENTRYPOINT");
    expect(JSON.parse(entrypoint?.args ?? "null")).toEqual(["/app/bin/kernel-gossip"]);
    const workdir = runtime.instructions.find((i) => i.op === "WORKDIR")?.args;
    expect(workdir).toBe("/app");
    expect(statSync(join(ROOT, "bin/kernel-gossip")).mode & 0o111).not.toBe(0);
    expect(readFileSync(join(ROOT, "bin/kernel-gossip"), "utf8")).toContain("dist/kernel-gossip.mjs");
  });

  it("copies into the build stage every source file the bundles are built from", () => {
    const { fromContext } = copies(build);
    for (const path of fromContext) {
      expect(existsSync(join(ROOT, path)), `COPY source ${path} exists`).toBe(true);
      if (path !== "package.json" && path !== "package-lock.json")
        expect(ignored(path), `${path} not in .dockerignore`).toBe(false);
    }
    const inputs = new Set(built.flatMap((b) => Object.keys(b.meta?.inputs ?? {})));
    const sources = [...inputs]
      .map((f) => relative(ROOT, resolve(process.cwd(), f)))
      .filter((f) => !f.startsWith("node_modules/") && !f.startsWith("(disabled)") && !f.includes(":"));
    expect(sources.length).toBeGreaterThan(10);
    const under = (f: string, dirs: string[]) => dirs.some((p) => f === p || f.startsWith(`${p}/`));
    // proto/gen is made in the build stage from the copied proto/.
    const missing = sources.filter(
      (f) => !(under(f, fromContext) && !ignored(f)) && !f.startsWith("proto/gen/"),
    );
    expect(missing, "bundled but not copied into the build stage").toEqual([]);
    expect(
      sources.filter((f) => f.startsWith("demo/") || f.startsWith("test/") || f.startsWith("bench/")),
    ).toEqual([]);
    // Nothing bundled comes from a devDependency.
    const packages = new Set(
      [...inputs]
        .map((f) => relative(ROOT, resolve(process.cwd(), f)))
        .map((f) => /^((?:.*\/)?node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1])
        .filter((p): p is string => p !== undefined),
    );
    expect(packages.size).toBeGreaterThan(3);
    const dev = [...packages].filter((p) => lock.packages[p]?.dev === true || !(p in lock.packages));
    expect(dev, "bundled packages that are devDependencies or not in package-lock").toEqual([]);
  });

  it("builds bundles that import only Node built-ins, each other and optional add-ons loaded in try/catch, so the image needs no node_modules", () => {
    expect(built.map((b) => basename(b.file)).sort()).toEqual(Object.keys(DIST_FILES).sort());
    const allowed = new Set<string>([...Object.keys(DIST_FILES).map((f) => `./${f}`), ...OPTIONAL_PEERS]);
    for (const b of built) {
      const imports = (b.meta?.imports ?? []).map((i) => i.path);
      const foreign = imports.filter((p) => !isBuiltin(p) && !allowed.has(p));
      expect(foreign, `${basename(b.file)} imports`).toEqual([]);
    }
  });

  it("loads node:http through require, so importing a role does not load undici (about 13 MiB of RSS for code no role runs)", () => {
    for (const role of ["agent.mjs", "aggregator.mjs"]) {
      const url = pathToFileURL(join(tmp, role)).href;
      const loaded = execFileSync(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `await import(${JSON.stringify(url)}); process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => m.includes("undici"))));`,
        ],
        { encoding: "utf8", timeout: 60_000 },
      );
      expect(
        JSON.parse(loaded),
        `Node modules with undici in their name loaded by importing ${role}`,
      ).toEqual([]);
    }
  });
});
