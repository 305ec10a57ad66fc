// The process contract (issue 17, findings 2 and 4): a start-up failure is one line on
// stderr saying what failed, which option, file or port, and what to do — no stack unless
// LOG_LEVEL=debug — and the process ends with a non-zero status whatever it has already
// opened (watches, timers, a WebSocket dial), instead of logging `fatal` and running on.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "../test/kube-api/index.ts";

const bin = fileURLToPath(new URL("../bin/kernel-gossip", import.meta.url));

interface Ended {
  status: number | null;
  stderr: string;
  /** Time from the first stderr byte to the exit. */
  exitAfterMs: number;
}

function run(args: string[], env: Record<string, string>): Promise<Ended> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let firstErrorAt = 0;
    child.stderr.on("data", (d: Buffer) => {
      if (!firstErrorAt) firstErrorAt = Date.now();
      stderr += d.toString();
    });
    // Before the fix a busy port left the process running for good: fail loudly, not hang.
    const killer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.once("exit", (status) => {
      clearTimeout(killer);
      resolve({ status, stderr, exitAfterMs: firstErrorAt ? Date.now() - firstErrorAt : -1 });
    });
  });
}

const listenAnywhere = (): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "0.0.0.0", () => resolve(server));
  });
const portOf = (s: Server): number => (s.address() as { port: number }).port;

/** Exactly one line, no stack frames. */
function expectOneLine(stderr: string): string {
  const lines = stderr.split("\n").filter(Boolean);
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0] ?? "";
}

describe("start-up failures", () => {
  let api: KubeApi;
  let dir: string;
  let busy: Server;
  const agentEnv = (): Record<string, string> => ({
    NODE_NAME: "n1",
    AGGREGATOR_URL: "ws://127.0.0.1:9/stream",
    KUBECONFIG: api.kubeconfigPath,
    METRICS_PORT: "0",
    AGENT_TOKEN: "t",
  });
  const aggregatorEnv = (): Record<string, string> => ({
    KUBECONFIG: api.kubeconfigPath,
    STREAM_PORT: "0",
    METRICS_PORT: "0",
    AUTH_MODE: "static",
    STATIC_TOKENS: "t=n1",
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kg-start-up-"));
    api = await startKubeApi({ kubeconfigPath: join(dir, "kubeconfig.yaml") });
    busy = await listenAnywhere();
  });
  afterAll(async () => {
    busy?.close();
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a port in use ends either role at once with status 1, naming the port and the option", async () => {
    const port = String(portOf(busy));
    const [agentMetrics, aggregatorMetrics, aggregatorStream] = await Promise.all([
      run(["agent"], { ...agentEnv(), METRICS_PORT: port }),
      run(["aggregator"], { ...aggregatorEnv(), METRICS_PORT: port }),
      run(["aggregator"], { ...aggregatorEnv(), STREAM_PORT: port }),
    ]);
    for (const [ended, option] of [
      [agentMetrics, "--metrics-port / $METRICS_PORT"],
      [aggregatorMetrics, "--metrics-port / $METRICS_PORT"],
      [aggregatorStream, "--stream-port / $STREAM_PORT"],
    ] as const) {
      expect(ended.status, ended.stderr).toBe(1);
      expect(expectOneLine(ended.stderr)).toMatch(
        new RegExp(
          `: port ${port} \\(${option.replace(/[$/]/g, "\\$&")}\\) is already in use by another process: stop it or choose another port$`,
        ),
      );
      // Logged, not asserted (the machine is shared): how long the process outlived its message.
      console.log(`exited ${ended.exitAfterMs} ms after the fatal line`);
    }
  }, 120_000);

  it("a kubeconfig that does not exist is one line naming the file and the option", async () => {
    const ended = await run(["agent"], { ...agentEnv(), KUBECONFIG: "/nonexistent" });
    expect(ended.status).toBe(1);
    expect(expectOneLine(ended.stderr)).toMatch(
      /^kernel-gossip agent: cannot read kubeconfig \/nonexistent: .*no such file.*; check --kubeconfig \(KUBECONFIG\)$/i,
    );
    const aggregator = await run(["aggregator"], { ...aggregatorEnv(), KUBECONFIG: "/nonexistent" });
    expect(aggregator.status).toBe(1);
    expect(expectOneLine(aggregator.stderr)).toBe(
      "kernel-gossip aggregator: cannot load kubeconfig /nonexistent (--kubeconfig / $KUBECONFIG): no such file; point it at a readable kubeconfig, or leave it unset inside a cluster to use the pod's service account",
    );
  }, 60_000);

  it("outside a cluster without a kubeconfig the agent says so once and exits instead of retrying an invalid URL", async () => {
    const { KUBECONFIG: _, ...env } = agentEnv();
    const ended = await run(["agent"], env);
    expect(ended.status).toBe(1);
    expect(expectOneLine(ended.stderr)).toBe(
      "kernel-gossip agent: no API server: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not running in a pod) and no --kubeconfig was given; pass --kubeconfig (or KUBECONFIG) outside a cluster",
    );
    const { KUBECONFIG: __, ...aggregatorOutside } = aggregatorEnv();
    const aggregator = await run(["aggregator"], aggregatorOutside);
    expect(aggregator.status).toBe(1);
    expect(expectOneLine(aggregator.stderr)).toBe(
      "kernel-gossip aggregator: not running inside a Kubernetes pod ($KUBERNETES_SERVICE_HOST is unset) and no --kubeconfig ($KUBECONFIG) given: pass --kubeconfig to run outside a cluster",
    );
  }, 60_000);

  it("a missing cgroup root is one line naming CGROUP_ROOT", async () => {
    const ended = await run(["agent"], { ...agentEnv(), CGROUP_ROOT: join(dir, "no-cgroups") });
    expect(ended.status).toBe(1);
    expect(expectOneLine(ended.stderr)).toContain(
      `kernel-gossip agent: no cgroup filesystem found at ${join(dir, "no-cgroups")} (--cgroup-root / $CGROUP_ROOT)`,
    );
  }, 60_000);

  it("a TLS certificate without its key is refused as an option error (status 2), in one line", async () => {
    const ended = await run(["aggregator"], { ...aggregatorEnv(), TLS_CERT_FILE: join(dir, "tls.crt") });
    expect(ended.status).toBe(2);
    expect(expectOneLine(ended.stderr)).toBe(
      "kernel-gossip aggregator: --tls-cert-file ($TLS_CERT_FILE) is set but --tls-key-file ($TLS_KEY_FILE) is not: set both to serve wss://, or neither for ws://",
    );
  }, 60_000);

  it("prints the stack only at debug level", async () => {
    const ended = await run(["agent"], { ...agentEnv(), KUBECONFIG: "/nonexistent", LOG_LEVEL: "debug" });
    expect(ended.status).toBe(1);
    expect(ended.stderr.split("\n")[0]).toContain("cannot read kubeconfig /nonexistent");
    expect(ended.stderr).toMatch(/^\s+at kubeconfigEndpoint /m);
  }, 60_000);

  it("npm run kube-api on a busy port is one line too", async () => {
    const ended = await new Promise<Ended>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          join(import.meta.dirname, "../test/kube-api/main.ts"),
          "--port",
          String(portOf(busy)),
          "--host",
          "0.0.0.0",
        ],
        {
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.once("exit", (status) => resolve({ status, stderr, exitAfterMs: 0 }));
    });
    expect(ended.status).toBe(1);
    expect(expectOneLine(ended.stderr)).toBe(
      `kube-api: port ${portOf(busy)} on 0.0.0.0 is already in use (another kube-api or API server?): stop it or pass another --port (0 picks a free one)`,
    );
  }, 60_000);
});
