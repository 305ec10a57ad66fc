// Once per test run, before any test: fails early, with the fix, when the generated protocol
// code is missing or stale; then builds dist/ (scripts/build-dist.ts), because every test
// that starts a kernel-gossip process runs the built artifact the image ships
// (KERNEL_GOSSIP_BUILD=dist, vitest.config.ts).
import { execFileSync } from "node:child_process";
import { missingToolsNotice } from "./tools.ts";

export default async function setup(): Promise<void> {
  execFileSync(process.execPath, ["scripts/gen-proto.ts", "--check"], { stdio: "inherit" });
  // Said once, here, rather than as a skip buried in each test's output.
  const notice = missingToolsNotice();
  if (notice) process.stderr.write(`\n${notice}\n`);
  let build: typeof import("../scripts/build-dist.ts");
  try {
    build = await import("../scripts/build-dist.ts");
  } catch (err) {
    throw new Error(
      `cannot load the bundler to build dist/ (${err instanceof Error ? err.message : String(err)}); esbuild is a devDependency: run \`make install\` (or \`npm install\`) in this checkout`,
    );
  }
  await build.buildDist();
}
