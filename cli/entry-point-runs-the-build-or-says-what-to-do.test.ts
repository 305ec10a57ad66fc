// bin/kernel-gossip in the three places it runs: the image (bin/ and dist/ only, as the
// Dockerfile copies them, no node_modules), a checkout not installed yet, and a checkout asked
// to run a build it does not have. Real processes, real files.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDist } from "../scripts/build-dist.ts";
import { VERSION } from "../shared/version.ts";

const repoBin = fileURLToPath(new URL("../bin/kernel-gossip", import.meta.url));
// Node 24 first on PATH, as in the image (node:24-bookworm-slim).
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ""}`;

let tmp: string;
let image: ReturnType<typeof layout>;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "kg-entry-"));
  image = layout("image");
  await buildDist({ outDir: join(image.root, "dist") });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A directory with bin/kernel-gossip in it; the test adds what the layout has. */
function layout(name: string): {
  root: string;
  run(args: string[], env?: Record<string, string>): ReturnType<typeof spawnSync>;
} {
  const root = join(tmp, name);
  mkdirSync(join(root, "bin"), { recursive: true });
  copyFileSync(repoBin, join(root, "bin/kernel-gossip"));
  return {
    root,
    run: (args, env = {}) =>
      spawnSync(join(root, "bin/kernel-gossip"), args, {
        encoding: "utf8",
        env: { PATH, ...env },
        timeout: 20_000,
      }),
  };
}

describe("bin/kernel-gossip", () => {
  it("in the image layout (bin/ and dist/, no node_modules, no sources) runs the bundle", () => {
    const version = image.run(["--version"]);
    expect(version.stderr).toBe("");
    expect(version.stdout).toBe(`${VERSION}\n`);
    expect(version.status).toBe(0);
    // Option parsing is in the bundle: a missing required option is one line, exit 2.
    const agent = image.run(["agent"], { AGGREGATOR_URL: "ws://127.0.0.1:1/stream" });
    expect(agent.status).toBe(2);
    expect(agent.stderr).toMatch(/^kernel-gossip agent: .*--node-name/);
    expect(image.run(["aggregator", "--help"]).stdout).toContain("--listen-port");
  });

  it("says the demo is not in the build, and how to run it, instead of failing to load it", () => {
    const demo = image.run(["demo"]);
    expect(demo.status).toBe(2);
    expect(demo.stderr).not.toContain("ERR_MODULE_NOT_FOUND");
    expect(demo.stderr).toContain("kernel-gossip demo: not part of this build");
    expect(demo.stderr).toContain("make demo");
  });

  it("in a checkout not installed yet says to run make install, not ERR_UNKNOWN_FILE_EXTENSION", () => {
    const checkout = layout("checkout");
    mkdirSync(join(checkout.root, "cli"));
    writeFileSync(join(checkout.root, "cli/main.ts"), "export {};\n");
    const r = checkout.run(["--help"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("not installed yet");
    expect(r.stderr).toContain("make install");
    expect(r.stderr).not.toContain("ERR_UNKNOWN_FILE_EXTENSION");
  });

  it("asked for the build (KERNEL_GOSSIP_BUILD=dist) where there is none, says to build it", () => {
    const checkout = layout("checkout-no-dist");
    mkdirSync(join(checkout.root, "cli"));
    writeFileSync(join(checkout.root, "cli/main.ts"), "export {};\n");
    const r = checkout.run(["--version"], { KERNEL_GOSSIP_BUILD: "dist" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("dist/kernel-gossip.mjs is missing");
    expect(r.stderr).toContain("make build-dist");
  });
});
