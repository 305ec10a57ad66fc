// Once per test run, before any test: fails early, with the fix, when the generated protocol
// code is missing or stale; then builds dist/ (scripts/build-dist.ts), because every test
// that starts a kernel-gossip process runs the built artifact the image ships
// (KERNEL_GOSSIP_BUILD=dist, vitest.config.ts).
import { execFileSync } from "node:child_process";
import { buildDist } from "../scripts/build-dist.ts";

export default async function setup(): Promise<void> {
  execFileSync(process.execPath, ["scripts/gen-proto.ts", "--check"], { stdio: "inherit" });
  await buildDist();
}
