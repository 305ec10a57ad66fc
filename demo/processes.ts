// The demo's aggregator and agent: real processes started through bin/kernel-gossip (the
// built artifact when KERNEL_GOSSIP_BUILD=dist, as the image runs it), their warnings and
// errors shown with a [role] prefix, ready when each /readyz answers 200, stopped newest
// first.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/ports.ts";
import { httpText, until } from "./wait.ts";

const bin = join(fileURLToPath(new URL("..", import.meta.url)), "bin", "kernel-gossip");

export interface DemoRoles {
  streamPort: number;
  aggregatorMetricsPort: number;
  agentMetricsPort: number;
  /**
   * Ready means: the aggregator reaches the API server and both CRDs are served; the agent
   * has listed demo-node's pods, so every pod created from now on is born under its watch
   * (a pod that exists before the first list gets no certificate, by design).
   */
  ready(timeoutMs: number): Promise<void>;
  /** SIGTERM newest first (SIGKILL after 5 s): the agent flushes while its aggregator answers. */
  stop(): Promise<void>;
}

/** Starts the aggregator, then the agent for node demo-node, on free ports. */
export async function startRoles(options: {
  kubeconfigPath: string;
  cgroupRoot: string;
  say: (text: string) => void;
}): Promise<DemoRoles> {
  const { kubeconfigPath, cgroupRoot, say } = options;
  const [streamPort, aggregatorMetricsPort, agentMetricsPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const env = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn" };
  const children: ChildProcess[] = [];
  const exited = new Map<string, string>();
  const logTo = (name: string, child: ChildProcess) => {
    children.push(child);
    child.stderr?.on("data", (d: Buffer) => say(`[${name}] ${d}`));
    child.stdout?.on("data", (d: Buffer) => {
      for (const line of d.toString().split("\n").filter(Boolean)) {
        if (!line.includes('"level":"info"')) say(`[${name}] ${line}\n`);
      }
    });
    child.once("exit", (code, signal) => exited.set(name, `exited with ${signal ?? code}`));
  };
  logTo(
    "aggregator",
    spawn(bin, ["aggregator"], {
      env: {
        ...env,
        KUBECONFIG: kubeconfigPath,
        STREAM_PORT: String(streamPort),
        METRICS_PORT: String(aggregatorMetricsPort),
        AUTH_MODE: "static",
        STATIC_TOKENS: "demo-token=demo-node",
        CLUSTER_NAME: "demo",
        POD_NAME: "kernel-gossip-aggregator-0",
      },
    }),
  );
  logTo(
    "agent",
    spawn(bin, ["agent"], {
      env: {
        ...env,
        KUBECONFIG: kubeconfigPath,
        NODE_NAME: "demo-node",
        CLUSTER_NAME: "demo",
        AGGREGATOR_URL: `ws://127.0.0.1:${streamPort}/stream`,
        AGENT_TOKEN: "demo-token",
        CGROUP_ROOT: cgroupRoot,
        METRICS_PORT: String(agentMetricsPort),
        SCAN_INTERVAL: "1s",
        THROTTLE_WINDOW: "4s",
        THROTTLE_UPDATE_INTERVAL: "5s",
        MEMORY_WINDOW: "2s",
      },
    }),
  );
  return {
    streamPort,
    aggregatorMetricsPort,
    agentMetricsPort,
    async ready(timeoutMs) {
      for (const [name, port] of [
        ["aggregator", aggregatorMetricsPort],
        ["agent", agentMetricsPort],
      ] as const) {
        let last = "";
        await until(
          () => `the ${name}'s /readyz (last answer: ${last || "none"})`,
          timeoutMs,
          async () => {
            const gone = exited.get(name);
            if (gone) throw new Error(`the ${name} ${gone}; its log above says why`);
            const r = await httpText(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
            last = r ? `${r.status} ${r.body}` : "";
            return r?.status === 200 ? true : undefined;
          },
        );
        say(`${name.padEnd(10)} ready: http://127.0.0.1:${port}/readyz answers ok\n`);
      }
    },
    async stop() {
      for (const c of [...children].reverse()) {
        await new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const timer = setTimeout(() => c.kill("SIGKILL"), 5_000);
          c.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill("SIGTERM");
        });
      }
    },
  };
}
