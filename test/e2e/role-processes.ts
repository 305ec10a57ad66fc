// The real `kernel-gossip agent|aggregator` processes of an end-to-end test, started as the
// image starts them (bin/kernel-gossip) against the local API server: each resolves once its
// ready line is logged, keeps warnings, errors and spool lines for the failure message, and
// reports the agent's metrics port from its "agent started" line. One place for what the
// restart tests (agent and aggregator killed and restarted) need.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { expect, vi } from "vitest";
import type { KubeApi } from "../kube-api/index.ts";
import { REPO } from "./harness.ts";

export type Role = "agent" | "aggregator";

export interface RoleProcesses {
  /**
   * Starts a role with these environment variables; resolves when `readyText` is logged.
   * `onLine`, when given, sees every stdout line of the process's whole life.
   */
  start(
    role: Role,
    env: Record<string, string>,
    readyText: string,
    onLine?: (line: string) => void,
  ): Promise<ChildProcess>;
  /** Sends `signal` and waits for the exit (no-op for a process already gone). */
  stop(child: ChildProcess, signal: "SIGKILL" | "SIGTERM"): Promise<void>;
  /** Every process still running (a test adds its own helper processes to be killed too). */
  readonly children: Set<ChildProcess>;
  /** Calls `onLine` for each stdout line of `child`; its stderr lines go to `logs`. */
  watchLines(child: ChildProcess, onLine: (line: string) => void): void;
  /** Warnings, errors and spool lines of every process, for failure messages. */
  readonly logs: string[];
  /** The newest agent's metrics port (0 until an agent logged "agent started"). */
  readonly agentMetricsPort: number;
}

export function roleProcesses(api: () => KubeApi): RoleProcesses {
  const children = new Set<ChildProcess>();
  const logs: string[] = [];
  let agentMetricsPort = 0;

  const watchLines = (child: ChildProcess, onLine: (line: string) => void): void => {
    if (child.stdout) createInterface({ input: child.stdout }).on("line", onLine);
    if (child.stderr) createInterface({ input: child.stderr }).on("line", (l) => logs.push(`stderr: ${l}`));
  };

  return {
    children,
    logs,
    watchLines,
    get agentMetricsPort() {
      return agentMetricsPort;
    },
    start(role, env, readyText, onLine) {
      const child = spawn(`${REPO}/bin/kernel-gossip`, [role], {
        env: {
          ...process.env,
          KUBECONFIG: api().kubeconfigPath,
          METRICS_PORT: "0",
          LOG_LEVEL: process.env.KG_E2E_DEBUG ?? "info",
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.add(child);
      child.once("exit", () => children.delete(child));
      return new Promise<ChildProcess>((resolve, reject) => {
        let ready = false;
        watchLines(child, (line) => {
          onLine?.(line);
          if (/"level":"(warn|error|fatal)"/.test(line) || line.includes("spool"))
            logs.push(`${role}: ${line}`);
          if (process.env.KG_E2E_DEBUG) console.log(`${role}: ${line}`.slice(0, 400));
          if (role === "agent" && line.includes("agent started"))
            agentMetricsPort = Number(JSON.parse(line).metricsPort ?? 0);
          if (!ready && line.includes(readyText)) {
            ready = true;
            resolve(child);
          }
        });
        child.once("exit", (code, signal) => {
          if (!ready)
            reject(
              new Error(
                `${role} exited before it was ready (${code ?? signal}): ${logs.slice(-20).join("\n")}`,
              ),
            );
        });
      });
    },
    async stop(child, signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      await exited;
    },
  };
}

export type Counts = Record<string, number>;

/**
 * Waits until the whisper counts equal the truth (`settled` says when the set is complete),
 * polling every 300 ms, and fails at once when any count is ever above the truth: a double
 * count shows before it settles. Logs both sides; the failure message carries `logs`.
 */
export async function expectCountsSettleAtTruth(
  what: string,
  read: { truth(): Promise<Counts>; whispers(): Promise<Counts> },
  options: { settled(got: Counts, want: Counts): boolean; timeoutMs: number; logs: readonly string[] },
): Promise<void> {
  let got: Counts = {};
  let want: Counts = {};
  const above: string[] = [];
  await vi
    .waitFor(
      async () => {
        want = await read.truth();
        got = await read.whispers();
        for (const [k, v] of Object.entries(got))
          if (v > (want[k] ?? 0)) above.push(`${k} ${v} > ${want[k] ?? 0}`);
        if (above.length > 0) return; // stop waiting: reported below
        expect(options.settled(got, want)).toBe(true);
      },
      { timeout: options.timeoutMs, interval: 300 },
    )
    .catch(() => undefined); // the equality below says what was missing
  expect(above, `${what}: counted above the truth`).toEqual([]);
  console.info(`${what}: truth ${JSON.stringify(want)}, whispers ${JSON.stringify(got)}`);
  expect(got, `${what}\n${options.logs.slice(-30).join("\n")}`).toEqual(want);
}

/**
 * The environment of a one-node run: the aggregator on `streamPort` (static token bound to
 * node-1, writes every 200 ms, no pod Events) and node-1's agent on `cgroupRoot`, scanning every
 * second, with its spool in `spoolDir`. A test adds what it tunes (dedup, throttle windows).
 */
export function oneNodeEnv(
  streamPort: number,
  cgroupRoot: string,
  spoolDir: string,
): { aggregator: Record<string, string>; agent: Record<string, string> } {
  return {
    aggregator: {
      STREAM_PORT: String(streamPort),
      AUTH_MODE: "static",
      STATIC_TOKENS: "tok=node-1",
      POD_NAME: "aggregator-0",
      POD_NAMESPACE: "kernel-gossip",
      OBJECT_MIN_INTERVAL: "200ms",
      POD_EVENTS: "false",
    },
    agent: {
      NODE_NAME: "node-1",
      AGGREGATOR_URL: `ws://127.0.0.1:${streamPort}/stream`,
      AGENT_TOKEN: "tok",
      CGROUP_ROOT: cgroupRoot,
      SCAN_INTERVAL: "1s",
      SHUTDOWN_TIMEOUT: "5s",
      SPOOL_DIR: spoolDir,
    },
  };
}
