import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin/kernel-gossip", import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(bin, args, { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 });

describe("kernel-gossip executable", () => {
  it("lists the three commands", () => {
    const r = run(["--help"]);
    expect(r.status).toBe(0);
    for (const cmd of ["agent", "aggregator", "demo"]) expect(r.stdout).toContain(`  ${cmd} `);
  });

  it.each([
    [
      "agent",
      ["--node-name", "NODE_NAME", "--aggregator-url", "AGGREGATOR_URL", "--cgroup-root", "CGROUP_ROOT"],
    ],
    ["aggregator", ["--stream-port", "STREAM_PORT", "--auth-mode", "AUTH_MODE", "--retention", "RETENTION"]],
  ])("%s --help lists every option with its environment variable", (cmd, expected) => {
    const r = run([cmd, "--help"]);
    expect(r.status).toBe(0);
    for (const text of expected) expect(r.stdout).toContain(text);
  });

  it("refuses a bad value at start-up naming the option, the variable and the value", () => {
    const r = run(["agent"], {
      NODE_NAME: "n1",
      AGGREGATOR_URL: "ws://127.0.0.1:1/stream",
      METRICS_PORT: "99999",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      'kernel-gossip agent: invalid --metrics-port ($METRICS_PORT): "99999" is above the maximum 65535',
    );
  });

  it("says which required option is missing", () => {
    const r = run(["agent"], { AGGREGATOR_URL: "ws://127.0.0.1:1/stream" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("missing required option --node-name (or $NODE_NAME)");
  });

  it("rejects an unknown command", () => {
    const r = run(["gossip"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "gossip"');
  });
});
