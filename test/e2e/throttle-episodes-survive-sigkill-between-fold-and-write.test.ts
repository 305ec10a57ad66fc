// ADR 0011 amendment, full stack: the real aggregator (`bin/kernel-gossip aggregator`) and a
// real agent link (agent/link + agent/queue Outbox) streaming CPU throttling samples that name
// their episode. With a 10-minute object interval every fold after a whisper's first write
// stays unwritten, so each SIGKILL below lands between folds and their write: openings
// acknowledged on the fold die with the process. The episodes' later samples count them —
// once — on the restarted process; resolutions wait for their write (the SIGTERM drain).
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { testAgentOptions, testDelivery } from "../../agent/testing.ts";
import { throttle } from "../../aggregator/pipeline/testing.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { KubeApi } from "../kube-api/index.ts";
import { freePort } from "../ports.ts";
import { kubectlFor, startKubeApiRetrying } from "./harness.ts";
import { roleProcesses } from "./role-processes.ts";

let api: KubeApi;
let kubectl: (...args: string[]) => Promise<string>;
const roles = roleProcesses(() => api);
const NS = "episodes";

beforeAll(async () => {
  api = await startKubeApiRetrying();
  kubectl = kubectlFor(api);
  await kubectl("apply", "-f", "crds/");
  await kubectl("create", "namespace", "kernel-gossip");
  await kubectl("create", "namespace", NS);
}, 60_000);

afterAll(async () => {
  for (const child of roles.children) child.kill("SIGKILL");
  await api?.close();
});

const startAggregator = (port: number): Promise<ChildProcess> =>
  roles.start(
    "aggregator",
    {
      STREAM_PORT: String(port),
      AUTH_MODE: "static",
      STATIC_TOKENS: "tok-a=node-1",
      POD_NAME: "aggregator-0",
      POD_NAMESPACE: "kernel-gossip",
      // After an object's first write, nothing of it is written again until the drain.
      OBJECT_MIN_INTERVAL: "10m",
      WRITE_QPS: "1000",
      WRITE_BURST: "1000",
      POD_EVENTS: "false",
      // Made-up pods: node binding is tested with real pods elsewhere.
      VERIFY_PODS: "false",
    },
    "accepting agents",
  );

/** One agent's real outbox and link, built as the agent builds them (agent/delivery.ts). */
function startAgent(url: string) {
  const registry = createRegistry({ defaultMetrics: false });
  const o = testAgentOptions({
    nodeName: "node-1",
    clusterName: "e2e",
    aggregatorUrl: url,
    agentToken: "tok-a",
    queueMaxEvents: 1_000,
    maxBatchEvents: 100,
    flushInterval: 20,
    heartbeatInterval: 60_000,
    maxUnackedBatches: 32,
  });
  const { outbox, link } = testDelivery(o, registry);
  link.start();
  return { outbox, link };
}

/** The CPUThrottling whisper's count as the API server stores it. */
function storedCount(): number | undefined {
  const [w] = api.store.list("kernel.gossip.io", "kernelwhispers", NS) as { status?: { count?: number } }[];
  return w?.status?.count;
}

it("episodes whose openings were acked on the fold and lost in two SIGKILLs are each counted exactly once", async () => {
  const port = await freePort();
  let aggregator = await startAggregator(port);
  const agent = startAgent(`ws://127.0.0.1:${port}/stream`);
  const pods = [0, 1, 2, 3, 4].map((i) => ({
    uid: `episode-pod-${i}`,
    namespace: NS,
    name: `render-${i}`,
    labels: { "workload-id": "render" },
  }));
  const t0 = Date.now() - 600_000;
  let seq = 0;
  const sample = (pod: number, state: "open" | "update" | "resolved", opened: number) =>
    throttle(
      pods[pod] as (typeof pods)[number],
      "app",
      ++seq,
      state,
      state === "resolved" ? 0.1 : 0.6,
      t0 + seq * 1_000,
      opened,
    );
  const acked = () => agent.outbox.size === 0 && agent.link.isIdle();
  try {
    // The whisper's first write (due at once): one episode counted.
    agent.outbox.push(sample(0, "open", t0));
    await expect.poll(storedCount, { timeout: 20_000 }).toBe(1);

    // Three more episodes open: acknowledged once folded, written only in 10 minutes.
    const e = [1, 2, 3].map((i) => t0 + i * 10_000);
    for (const [i, opened] of e.entries()) agent.outbox.push(sample(i + 1, "open", opened));
    await expect.poll(acked, { timeout: 20_000 }).toBe(true);
    expect(storedCount()).toBe(1);

    await roles.stop(aggregator, "SIGKILL");
    aggregator = await startAggregator(port);
    // Their updates reach the restarted process: it counts the three episodes (first write
    // of the object in this process, due at once) — and not the first one again.
    agent.outbox.push(sample(0, "update", t0));
    for (const [i, opened] of e.entries()) agent.outbox.push(sample(i + 1, "update", opened));
    await expect.poll(storedCount, { timeout: 20_000 }).toBe(4);

    // A fifth episode opens (another pod) and its fold is lost too; then every episode resolves.
    const fifth = t0 + 50_000;
    agent.outbox.push(sample(4, "open", fifth));
    await expect.poll(acked, { timeout: 20_000 }).toBe(true);
    expect(storedCount()).toBe(4);
    await roles.stop(aggregator, "SIGKILL");
    aggregator = await startAggregator(port);
    agent.outbox.push(sample(0, "resolved", t0));
    for (const [i, opened] of e.entries()) agent.outbox.push(sample(i + 1, "resolved", opened));
    agent.outbox.push(sample(4, "resolved", fifth));
    // Resolutions wait for their write: the graceful stop's drain writes and acks them.
    await expect.poll(() => agent.outbox.size, { timeout: 20_000 }).toBe(0);
    await roles.stop(aggregator, "SIGTERM");
    aggregator = await startAggregator(port);
    await expect.poll(acked, { timeout: 30_000 }).toBe(true);
    expect((await agent.link.stop(2_000)).undelivered).toBe(0);

    const [whisper] = JSON.parse(await kubectl("get", "kw", "-n", NS, "-o", "json")).items;
    expect(whisper.status.count).toBe(5);
    expect(whisper.status.episodes.split(",")).toHaveLength(5);
    expect(whisper.status.conditions.find((c: { type: string }) => c.type === "Resolved")?.status).toBe(
      "True",
    );
    expect(
      Object.fromEntries(
        whisper.status.affectedPods.map((p: { name: string; count: number }) => [p.name, p.count]),
      ),
    ).toEqual({ "render-0": 1, "render-1": 1, "render-2": 1, "render-3": 1, "render-4": 1 });
  } finally {
    await agent.link.stop(0);
    await roles.stop(aggregator, "SIGKILL");
  }
}, 120_000);
