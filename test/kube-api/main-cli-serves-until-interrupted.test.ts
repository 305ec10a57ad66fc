/**
 * `npm run kube-api -- --port <p> --kubeconfig <file>` (node test/kube-api/main.ts)
 * prints where it serves and its kubeconfig, serves kubectl, and exits 0 on
 * SIGTERM and SIGINT.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const MAIN = join(import.meta.dirname, "main.ts");

async function run(signal: NodeJS.Signals): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "kube-api-cli-"));
  const kc = join(dir, "kc.yaml");
  const child = spawn(process.execPath, [MAIN, "--port", "0", "--kubeconfig", kc], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("kubeconfig:")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`exited early with ${code}: ${out}`)));
  });
  expect(out).toMatch(/^kube-api serving on https:\/\/127\.0\.0\.1:\d+$/m);
  expect(out).toContain(`kubeconfig: ${kc}`);
  const ns = await new Promise<string>((resolve) => {
    const k = spawn("kubectl", [
      "--kubeconfig",
      kc,
      "--cache-dir",
      join(dir, "cache"),
      "get",
      "ns",
      "default",
      "-o",
      "name",
    ]);
    let s = "";
    k.stdout.on("data", (c: Buffer) => {
      s += c.toString();
    });
    k.on("exit", () => resolve(s));
  });
  expect(ns).toBe("namespace/default\n");
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill(signal);
  expect(await exit).toBe(0);
  await rm(dir, { recursive: true, force: true });
}

describe("kube-api command", () => {
  it("serves kubectl and exits cleanly on SIGTERM", () => run("SIGTERM"));
  it("exits cleanly on SIGINT", () => run("SIGINT"));
});
