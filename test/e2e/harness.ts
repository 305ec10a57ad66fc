// A whole kernel-gossip installation in one test process: the local API server with the
// CRDs applied, an aggregator and an agent (each with its own registry), and a simulated
// node cgroupfs. Everything is closed by `close()`.

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { vi } from "vitest";
import { CgroupFixture } from "../../agent/cgroup/testing/build.ts";
import { type RunningAgent, startAgent } from "../../agent/main.ts";
import { AGENT_OPTIONS } from "../../agent/options.ts";
import { type RunningAggregator, startAggregator } from "../../aggregator/main.ts";
import { AGGREGATOR_OPTIONS } from "../../aggregator/options/index.ts";
import { systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry, type Registry } from "../../shared/metrics.ts";
import { parseOptions } from "../../shared/options.ts";
import { type KubeApi, startKubeApi } from "../kube-api/index.ts";

const exec = promisify(execFile);
export const REPO = fileURLToPath(new URL("../..", import.meta.url));

export interface Installation {
  api: KubeApi;
  cgroups: CgroupFixture;
  aggregator: RunningAggregator;
  aggregatorRegistry: Registry;
  agent: RunningAgent;
  agentRegistry: Registry;
  kubectl(...args: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function install(
  env: Record<string, string> = {},
  apiOptions: Parameters<typeof startKubeApi>[0] = {},
): Promise<Installation> {
  const dir = await mkdtemp(join(tmpdir(), "kg-e2e-"));
  const api = await startKubeApi({ ...apiOptions, kubeconfigPath: join(dir, "kubeconfig.yaml") });
  const kubectl = async (...args: string[]) =>
    (await exec("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], { cwd: REPO })).stdout;
  await kubectl("apply", "-f", "crds/");
  await kubectl("create", "namespace", "kernel-gossip");
  const cgroups = await CgroupFixture.create(join(dir, "cgroup"), { version: 2, driver: "systemd" });

  const aggregatorRegistry = createRegistry();
  const aggregator = await startAggregator(
    parseOptions(AGGREGATOR_OPTIONS, [], {
      KUBECONFIG: api.kubeconfigPath,
      STREAM_PORT: "0",
      METRICS_PORT: "0",
      AUTH_MODE: "static",
      STATIC_TOKENS: "e2e-token=node-1",
      POD_NAME: "aggregator-0",
      ...env,
    }),
    { log: silentLogger(), registry: aggregatorRegistry, clock: systemClock },
  );
  const agentRegistry = createRegistry();
  const agent = await startAgent(
    parseOptions(AGENT_OPTIONS, [], {
      KUBECONFIG: api.kubeconfigPath,
      NODE_NAME: "node-1",
      AGGREGATOR_URL: `ws://127.0.0.1:${aggregator.streamPort}/stream`,
      AGENT_TOKEN: "e2e-token",
      CGROUP_ROOT: cgroups.root,
      METRICS_PORT: "0",
      SCAN_INTERVAL: "1s",
      ...env,
    }),
    { log: silentLogger(), registry: agentRegistry, clock: systemClock },
  );
  return {
    api,
    cgroups,
    aggregator,
    aggregatorRegistry,
    agent,
    agentRegistry,
    kubectl,
    async close() {
      await agent.stop();
      await aggregator.stop();
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `kubectl --kubeconfig <api>` run from the repository root; resolves with stdout. */
export function kubectlFor(api: KubeApi): (...args: string[]) => Promise<string> {
  return async (...args) =>
    (
      await exec("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], {
        cwd: REPO,
        maxBuffer: 64 * 1024 * 1024,
      })
    ).stdout;
}

/**
 * startKubeApi, retried when its self-signed certificate comes out malformed (a known,
 * rare "illegal padding" flake of test/kube-api/tls.ts; see aggregator/pipeline/testing.ts).
 */
export async function startKubeApiRetrying(
  options: Parameters<typeof startKubeApi>[0] = {},
): Promise<KubeApi> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startKubeApi(options);
    } catch (err) {
      if (attempt >= 5 || !String((err as Error).message).includes("illegal padding")) throw err;
    }
  }
}

export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      if (value === undefined) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      return value;
    },
    { timeout: timeoutMs, interval: 200 },
  );
}
