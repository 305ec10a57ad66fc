// ADR 0014, full stack: the real aggregator process (`bin/kernel-gossip aggregator`) acks
// batches of crash loops once its journal ConfigMap holds them, while their whispers' writes
// wait for a 10-minute per-object interval. It is then SIGKILLed — acked, not written — and
// the counts must still come out exact: (1) the same replica restarted replays its own
// journal; (2) with two replicas, the survivor takes the dead one's journal for orphaned once
// its write-budget Lease expires, replays it and deletes it. Counts are read with the real
// kubectl; the agent links (real agent/link + Outbox) report every event delivered.
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { testAgentOptions, testDelivery } from "../../agent/testing.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { WireEvent } from "../../shared/proto.ts";
import type { KubeApi } from "../kube-api/index.ts";
import { freePort } from "../ports.ts";
import { crashLoopEvent, storedTotal, untilWithLogs } from "./crash-loops.ts";
import { kubectlFor, startKubeApiRetrying } from "./harness.ts";
import { roleProcesses } from "./role-processes.ts";

const TOTAL = 1_200;
const DEPLOYMENTS = 4;
const NAMESPACE = "kernel-gossip";

let api: KubeApi;
let kubectl: (...args: string[]) => Promise<string>;
const roles = roleProcesses(() => api);
const { children, logs, stop } = roles;

beforeAll(async () => {
  api = await startKubeApiRetrying();
  kubectl = kubectlFor(api);
  await kubectl("apply", "-f", "crds/");
  await kubectl("create", "namespace", NAMESPACE);
  await kubectl("create", "namespace", "shop-restart");
  await kubectl("create", "namespace", "shop-orphan");
}, 60_000);

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await api?.close();
});

function startAggregator(port: number, name: string, onLine?: (line: string) => void): Promise<ChildProcess> {
  return roles.start(
    "aggregator",
    {
      STREAM_PORT: String(port),
      AUTH_MODE: "static",
      STATIC_TOKENS: "tok-a=node-a",
      POD_NAME: name,
      POD_NAMESPACE: NAMESPACE,
      // After its first write, no whisper is written again while the test streams: every ack
      // after that comes from the journal.
      OBJECT_MIN_INTERVAL: "10m",
      LEASE_DURATION: "2s",
      WRITE_QPS: "1000",
      WRITE_BURST: "1000",
      MAX_EVENTS_PER_SECOND: "100000",
      POD_EVENTS: "false",
      VERIFY_PODS: "false",
      LOG_LEVEL: "info",
    },
    "accepting agents",
    onLine,
  );
}

function journals(): string[] {
  return api.store.list("", "configmaps", NAMESPACE).map((c) => String(c.metadata.name));
}

function crashLoop(namespace: string, n: number): WireEvent {
  const pod = n % 8;
  return crashLoopEvent("node-a", namespace, `checkout${pod % DEPLOYMENTS}-7d9f-${pod}`, n);
}

const until = untilWithLogs(logs);

/** One agent's link to `url` with its real Outbox; TOTAL events pushed, resolved once all are acked. */
async function streamAll(url: string, namespace: string) {
  const registry = createRegistry({ defaultMetrics: false });
  const o = testAgentOptions({
    nodeName: "node-a",
    clusterName: "e2e",
    aggregatorUrl: url,
    agentToken: "tok-a",
    queueMaxEvents: TOTAL,
    queueMaxBytes: 64 << 20,
    maxBatchEvents: 20,
    flushInterval: 10,
    heartbeatInterval: 60_000,
    maxUnackedBatches: 32,
  });
  const { outbox, link } = testDelivery(o, registry);
  link.start();
  // The first crash loop of each Deployment alone, written at once (first writes); the rest after.
  for (let n = 0; n < DEPLOYMENTS; n++) outbox.push(crashLoop(namespace, n));
  await until(() => storedTotal(api, namespace) === DEPLOYMENTS, "the first write of every whisper");
  for (let n = DEPLOYMENTS; n < TOTAL; n++) outbox.push(crashLoop(namespace, n));
  await until(() => outbox.size === 0 && link.isIdle(), "every batch acknowledged");
  return link;
}

async function whispers(namespace: string): Promise<{ status: { count: number } }[]> {
  return JSON.parse(await kubectl("get", "kw", "-n", namespace, "-o", "json")).items;
}

it("acked from the journal while every whisper's next write waits 10 minutes, SIGKILLed, restarted: its own journal is replayed and every count is exact", async () => {
  const port = await freePort();
  let aggregator = await startAggregator(port, "aggregator-0");
  const link = await streamAll(`ws://127.0.0.1:${port}/stream`, "shop-restart");
  try {
    // Every batch acked, almost nothing written: the acks came from the journal.
    expect(storedTotal(api, "shop-restart")).toBe(DEPLOYMENTS);
    expect(journals()).toContain("kernel-gossip-aggregator-journal-aggregator-0");
    await stop(aggregator, "SIGKILL");
    aggregator = await startAggregator(port, "aggregator-0");
    await until(() => storedTotal(api, "shop-restart") === TOTAL, `${TOTAL} counted after the replay`);
    const result = await link.stop(5_000);
    expect(result.undelivered).toBe(0);
    const items = await whispers("shop-restart");
    expect(items).toHaveLength(DEPLOYMENTS);
    for (const w of items) expect(w.status.count).toBe(TOTAL / DEPLOYMENTS);
    // A graceful stop writes what is pending and deletes the emptied journal.
    await stop(aggregator, "SIGTERM");
    expect(journals()).not.toContain("kernel-gossip-aggregator-journal-aggregator-0");
    expect(storedTotal(api, "shop-restart")).toBe(TOTAL);
  } finally {
    await link.stop(0);
    await stop(aggregator, "SIGKILL");
  }
}, 120_000);

it("two replicas: the one that acked is SIGKILLed for good; the other replays its orphaned journal, counts exactly and deletes it", async () => {
  const ports = [await freePort(), await freePort()];
  const orphanLines: string[] = [];
  const survivor = await startAggregator(ports[1] as number, "aggregator-b", (line) => {
    if (line.includes("is orphaned") || line.includes("deleted orphaned journal")) orphanLines.push(line);
  });
  const victim = await startAggregator(ports[0] as number, "aggregator-a");
  const link = await streamAll(`ws://127.0.0.1:${ports[0]}/stream`, "shop-orphan");
  try {
    expect(storedTotal(api, "shop-orphan")).toBe(DEPLOYMENTS);
    expect(journals()).toContain("kernel-gossip-aggregator-journal-aggregator-a");
    await link.stop(0);
    await stop(victim, "SIGKILL");
    // The survivor judges aggregator-a's Lease expired (2 s), replays its journal, writes the
    // whispers (their first writes on this replica are due at once) and deletes the journal.
    await until(() => storedTotal(api, "shop-orphan") === TOTAL, `${TOTAL} counted by the survivor`, 60_000);
    await until(
      () => !journals().includes("kernel-gossip-aggregator-journal-aggregator-a"),
      "the orphaned journal deleted",
    );
    expect(orphanLines.some((l) => l.includes("kernel-gossip-aggregator-journal-aggregator-a"))).toBe(true);
    const items = await whispers("shop-orphan");
    for (const w of items) expect(w.status.count).toBe(TOTAL / DEPLOYMENTS);
  } finally {
    await link.stop(0);
    await stop(victim, "SIGKILL");
    await stop(survivor, "SIGTERM");
  }
  expect(storedTotal(api, "shop-orphan")).toBe(TOTAL);
}, 120_000);
