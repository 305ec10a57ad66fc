// Issue 17, finding 7: the README's stand-in sequence failed once on a fresh machine
// (`kubectl get kernel-gossip -A` right after `kubectl apply -f crds/`: kubectl's cached
// discovery). The README's commands, run literally with a fresh kubectl cache, all succeed.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { startKubeApi } from "./index.ts";

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");

describe("README: starting the local API server on its own", () => {
  it("every kubectl command of the README's sequence succeeds the first time", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    const block = /```sh\nnpm run kube-api[^\n]*\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    const commands = block
      .split("\n")
      .filter((l) => l.startsWith("kubectl "))
      .map((l) => l.split(/\s+/).slice(1));
    expect(commands.map((c) => c[0])).toContain("wait");
    expect(commands.at(-1)).toEqual(["get", "kernel-gossip", "-A"]);

    const home = await mkdtemp(join(tmpdir(), "kg-readme-"));
    const api = await startKubeApi({ kubeconfigPath: join(home, "kc.yaml") });
    try {
      const env = { ...process.env, HOME: home, KUBECONFIG: api.kubeconfigPath };
      for (const args of commands) {
        const r = await exec("kubectl", args, { cwd: ROOT, env }).catch(
          (err: { stderr?: string; code?: number }) => err,
        );
        expect((r as { stderr?: string }).stderr ?? "", `kubectl ${args.join(" ")}`).not.toMatch(/error/i);
        expect((r as { code?: number }).code ?? 0, `kubectl ${args.join(" ")}`).toBe(0);
      }
    } finally {
      await api.close();
      await rm(home, { recursive: true, force: true });
    }
  }, 120_000);
});
