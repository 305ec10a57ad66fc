// Issue 12, finding 6: a watch that goes silent (the TCP connection stays up, nothing more
// arrives) is noticed from the missing bookmarks, not after minutes. The local API server sends
// bookmarks every second here (kube-apiserver: about every minute), and both sides are
// configured to restart a watch silent for 2.5 of those intervals: the real aggregator process
// (CONFIG_WATCH_STALE_AFTER; 5 minutes hard-coded before) pushes a ConfigMap edit made during
// the stall to a connected agent within seconds, and the agent (WATCH_STALE_AFTER) sees a pod
// created during the stall within seconds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeApi } from "../kube-api/index.ts";
import { type Installation, install, kubectlFor, startKubeApiRetrying } from "./harness.ts";
import { type AggregatorProcess, startAggregatorProcess, WireAgent, waitFor } from "./hostile-agents.ts";

const BOOKMARK_MS = 1_000;

describe("aggregator ConfigMap watch", () => {
  let api: KubeApi;
  let aggregator: AggregatorProcess | undefined;
  let agent: WireAgent | undefined;

  beforeAll(async () => {
    api = await startKubeApiRetrying({ bookmarkIntervalMs: BOOKMARK_MS });
    const kubectl = kubectlFor(api);
    await kubectl("apply", "-f", "crds/");
    await kubectl("create", "namespace", "kernel-gossip");
    await kubectl(
      "create",
      "configmap",
      "kernel-gossip-agent-config",
      "-n",
      "kernel-gossip",
      "--from-literal=scanInterval=10s",
    );
  }, 60_000);
  afterAll(async () => {
    agent?.close();
    await aggregator?.stop();
    await api?.close();
  });

  it("a stalled watch is restarted and the edit made meanwhile reaches the agent within seconds", async () => {
    aggregator = await startAggregatorProcess(api, {
      STATIC_TOKENS: "tok-a=node-a",
      CONFIG_WATCH_STALE_AFTER: `${2.5 * BOOKMARK_MS}ms`,
    });
    agent = await WireAgent.connect(aggregator.streamPort, "tok-a", "node-a");
    const first = await waitFor("the first Config frame", () => agent?.configs[0]);
    // The watch starts right after the list that gave the first config.
    await waitFor("the aggregator's ConfigMap watch", () =>
      api.faults.stallWatches({ resource: "configmaps" }) > 0 ? true : undefined,
    );
    const stalledAt = Date.now();
    await kubectlFor(api)(
      "create",
      "configmap",
      "kernel-gossip-agent-config",
      "-n",
      "kernel-gossip",
      "--from-literal=scanInterval=20s",
      "--dry-run=client",
      "-o",
      "yaml",
    ).then((yaml) => kubectlApply(api, yaml));
    const pushed = await waitFor(
      "the edited config pushed",
      () => agent?.configs.find((v) => v !== first),
      20_000,
    );
    const seconds = (Date.now() - stalledAt) / 1000;
    console.log(`ConfigMap edit pushed ${seconds.toFixed(1)} s after the watch stalled`);
    expect(pushed).not.toBe(first);
    expect(seconds).toBeLessThan(10);
  }, 60_000);
});

describe("agent pod watch", () => {
  let kg: Installation;
  beforeAll(async () => {
    kg = await install({ WATCH_STALE_AFTER: `${2.5 * BOOKMARK_MS}ms` }, { bookmarkIntervalMs: BOOKMARK_MS });
  }, 60_000);
  afterAll(async () => kg?.close());

  it("a stalled pod watch is restarted and a pod created meanwhile is seen within seconds", async () => {
    const watched = async (): Promise<number> =>
      (await kg.agentRegistry.getSingleMetric("kernel_gossip_agent_pods_watched")?.get())?.values[0]?.value ??
      -1;
    await waitFor("the agent's first list", async () => ((await watched()) === 0 ? true : undefined));
    // The watch starts right after the list.
    await waitFor("the agent's pod watch", () =>
      kg.api.faults.stallWatches({ resource: "pods" }) > 0 ? true : undefined,
    );
    const stalledAt = Date.now();
    await kg.kubectl("create", "namespace", "shop");
    await kg.kubectl(
      "run",
      "web",
      "-n",
      "shop",
      "--image=nginx",
      "--overrides",
      JSON.stringify({ spec: { nodeName: "node-1" } }),
    );
    await waitFor(
      "the pod seen by the agent",
      async () => ((await watched()) === 1 ? true : undefined),
      20_000,
    );
    const seconds = (Date.now() - stalledAt) / 1000;
    console.log(`pod created during the stall seen ${seconds.toFixed(1)} s after the watch stalled`);
    expect(seconds).toBeLessThan(10);
  }, 60_000);
});

async function kubectlApply(api: KubeApi, yaml: string): Promise<void> {
  const { execFile } = await import("node:child_process");
  await new Promise<void>((resolve, reject) => {
    const child = execFile("kubectl", ["--kubeconfig", api.kubeconfigPath, "apply", "-f", "-"], (err) =>
      err ? reject(err) : resolve(),
    );
    child.stdin?.end(yaml);
  });
}
