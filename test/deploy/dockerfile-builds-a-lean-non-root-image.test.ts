// No container engine exists on these machines, so the Dockerfile is checked statically:
// its stages, base image, user and entry point, and — the part a typo would break at
// 3 a.m. — that the runtime stage holds every file the entry point can import and that
// those files import only production dependencies.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, matchesGlob, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
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
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const dockerignore = readFileSync(join(ROOT, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));
const ignored = (file: string) =>
  dockerignore.some((p) => matchesGlob(file, p) || matchesGlob(file, `${p}/**`));

/** Paths the runtime stage has under /app: COPY sources from the context and from stages. */
function runtimePaths(): { fromContext: string[]; fromStages: string[] } {
  const fromContext: string[] = [];
  const fromStages: string[] = [];
  for (const { op, args } of runtime.instructions.filter((i) => i.op === "COPY")) {
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

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s+(?!type\s)[^;]*?from\s+["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s+["']([^"']+)["']/g;

/** Files reachable from the entry point through runtime imports, and the packages they use. */
function importGraph(entry: string, devOnly: readonly string[]) {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const queue = [resolve(ROOT, entry)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    const rel = relative(ROOT, file);
    if (files.has(rel) || devOnly.some((d) => rel.startsWith(d)) || !existsSync(file)) continue;
    files.add(rel);
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? "";
      if (spec.startsWith(".")) queue.push(resolve(dirname(file), spec));
      else if (!spec.startsWith("node:")) {
        const name = spec.startsWith("@")
          ? spec.split("/").slice(0, 2).join("/")
          : (spec.split("/")[0] ?? spec);
        packages.set(name, rel);
      }
    }
  }
  return { files, packages };
}

describe("Dockerfile", () => {
  it("is multi-stage on node:24-bookworm-slim", () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile) expect(stage.image).toBe("node:24-bookworm-slim");
    expect(dockerfile.map((s) => s.name)).toEqual(["build", "runtime"]);
  });

  it("generates the protocol code in the build stage and copies it into the runtime stage", () => {
    const build = dockerfile[0] as Stage;
    const buildRuns = build.instructions.filter((i) => i.op === "RUN").map((i) => i.args);
    expect(buildRuns.join(" ")).toMatch(/npm ci\b/);
    expect(buildRuns.join(" ")).toContain("scripts/gen-proto.ts --check");
    expect(
      runtime.instructions.some(
        (i) => i.op === "COPY" && /--from=build\s+\/src\/proto\/gen\/?\s+proto\/gen/.test(i.args),
      ),
    ).toBe(true);
  });

  it("installs only production dependencies in the runtime stage, without install scripts", () => {
    const runs = runtime.instructions.filter((i) => i.op === "RUN").map((i) => i.args);
    const installs = runs.flatMap((r) => r.split("&&")).filter((c) => /\bnpm\s+(ci|install|i)\b/.test(c));
    expect(installs.length).toBe(1);
    for (const c of installs) {
      expect(c).toContain("--omit=dev");
      expect(c).toContain("--ignore-scripts");
    }
  });

  it("runs as a numeric non-root user with the kernel-gossip entry point", () => {
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
    expect(readFileSync(join(ROOT, "bin/kernel-gossip"), "utf8")).toContain("cli/main.ts");
  });

  it("copies every file the entry point can import, and none of them needs a devDependency", () => {
    const { fromContext, fromStages } = runtimePaths();
    for (const path of fromContext) {
      expect(existsSync(join(ROOT, path)), `COPY source ${path} exists`).toBe(true);
      if (path !== "package.json" && path !== "package-lock.json")
        expect(ignored(path), `${path} not in .dockerignore`).toBe(false);
    }
    // `kernel-gossip demo` needs a development checkout (it starts test/kube-api); it is
    // imported lazily and deliberately not shipped.
    const { files, packages } = importGraph("cli/main.ts", ["demo/", "test/"]);
    expect(files.size).toBeGreaterThan(3);
    const under = (f: string, dirs: string[]) => dirs.some((p) => f === p || f.startsWith(`${p}/`));
    // Context files must survive .dockerignore; build-stage products (proto/gen) are made in the image.
    const missing = [...files].filter(
      (f) => !(under(f, fromStages) || (under(f, fromContext) && !ignored(f))),
    );
    expect(missing, "imported at run time but not in the image").toEqual([]);
    const devOnly = [...packages]
      .filter(([name]) => !(name in pkg.dependencies))
      .map(([n, f]) => `${n} (imported by ${f})`);
    expect(devOnly, "packages the image would not have").toEqual([]);
  });
});
