// Fails the run early, with the fix, when the generated protocol code is missing or stale.
import { execFileSync } from "node:child_process";

export default function setup(): void {
  execFileSync(process.execPath, ["scripts/gen-proto.ts", "--check"], { stdio: "inherit" });
}
