import { Writable } from "node:stream";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Backoff } from "../../shared/backoff.ts";
import { systemClock } from "../../shared/clock.ts";
import { loadKubeConfig } from "../../shared/kube.ts";
import { createLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { ConfigFrame } from "../../shared/proto.ts";
import { type KubeApi, startKubeApi } from "../../test/kube-api/index.ts";
import { AgentConfigSource, createConfigPushMetrics } from "./index.ts";

const NS = "kernel-gossip";
const NAME = "kernel-gossip-agent-config";
let api: KubeApi;
let core: CoreV1Api;
let source: AgentConfigSource;
const pushed: ConfigFrame[] = [];
const lines: Record<string, unknown>[] = [];
const registry = createRegistry({ defaultMetrics: false });

const replace = (data: Record<string, string>) =>
  core.replaceNamespacedConfigMap({ name: NAME, namespace: NS, body: { metadata: { name: NAME }, data } });

beforeAll(async () => {
  api = await startKubeApi();
  const kubeConfig = loadKubeConfig(api.kubeconfigPath);
  core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespacedConfigMap({
    namespace: NS,
    body: { metadata: { name: NAME }, data: { dedupCooldown: "3m", maxBatchEvents: "500" } },
  });
  const destination = new Writable({
    write(chunk, _e, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  source = new AgentConfigSource({
    kubeConfig,
    namespace: NS,
    name: NAME,
    clock: systemClock,
    log: createLogger({ destination }),
    metrics: createConfigPushMetrics(registry),
    backoff: new Backoff({ initialMs: 20, maxMs: 100 }),
  });
  source.onChange((c) => pushed.push(c));
  await source.start();
});
afterAll(async () => {
  source?.stop();
  await api?.close();
});

describe("agent ConfigMap watch", () => {
  it("serves the ConfigMap as a Config frame versioned by its resourceVersion", async () => {
    const cm = await core.readNamespacedConfigMap({ name: NAME, namespace: NS });
    expect(source.current()).toEqual({
      version: cm.metadata?.resourceVersion,
      cooldownSeconds: 180,
      maxBatchEvents: 500,
    });
  });

  it("pushes an edit live", async () => {
    const updated = await replace({ dedupCooldown: "1m", extraReasons: "Evicted" });
    await expect
      .poll(() => pushed.at(-1)?.version === updated.metadata?.resourceVersion, { message: "edit pushed" })
      .toBe(true);
    expect(pushed.at(-1)).toMatchObject({
      cooldownSeconds: 60,
      enabledReasons: ["CrashLoopBackOff", "OOMKilled", "Evicted"],
    });
  });

  it("refuses a bad edit with a log line naming key, value and reason, and keeps the last good config", async () => {
    const good = source.current();
    const count = pushed.length;
    await replace({ dedupCooldown: "soon", flushInterval: "250ms" });
    await expect
      .poll(() => lines.some((l) => l.key === "dedupCooldown"), { message: "error logged" })
      .toBe(true);
    const line = lines.find((l) => l.key === "dedupCooldown");
    expect(line).toMatchObject({
      level: "error",
      value: "soon",
      why: expect.stringContaining("not a duration"),
    });
    expect(String(line?.msg)).toContain('"dedupCooldown" = "soon"');
    expect(source.current()).toEqual(good);
    expect(pushed).toHaveLength(count);
  });

  it("survives a dropped watch and still sees the next edit", async () => {
    expect(api.faults.dropWatches({ resource: "configmaps" })).toBeGreaterThan(0);
    const updated = await replace({ scanInterval: "30s" });
    await expect
      .poll(() => source.current()?.version === updated.metadata?.resourceVersion, {
        message: "edit after restart",
      })
      .toBe(true);
    expect(source.current()?.scanIntervalSeconds).toBe(30);
    const restarts = (
      await registry.getSingleMetric("kernel_gossip_aggregator_config_watch_restarts_total")?.get()
    )?.values;
    expect(restarts?.reduce((n, v) => n + v.value, 0)).toBeGreaterThanOrEqual(1);
  });

  it("after deletion agents are told to go back to their local settings", async () => {
    await core.deleteNamespacedConfigMap({ name: NAME, namespace: NS });
    await expect.poll(() => source.current()?.version === "", { message: "deletion pushed" }).toBe(true);
    expect(pushed.at(-1)).toEqual({ version: "" });
  });
  // Last: stalling affects every ConfigMap watch, the shared source's too.
  it("restarts a watch that went silent (no event, no bookmark) and still sees the next edit", async () => {
    const staleRegistry = createRegistry({ defaultMetrics: false });
    const watcher = new AgentConfigSource({
      kubeConfig: loadKubeConfig(api.kubeconfigPath),
      namespace: NS,
      name: NAME,
      clock: systemClock,
      log: createLogger({ level: "silent" }),
      metrics: createConfigPushMetrics(staleRegistry),
      staleAfterMs: 300,
      backoff: new Backoff({ initialMs: 20, maxMs: 100 }),
    });
    await watcher.start();
    try {
      api.faults.stallWatches({ resource: "configmaps" });
      const updated = await core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: NAME }, data: { scanInterval: "20s" } },
      });
      await expect
        .poll(() => watcher.current()?.version === updated.metadata?.resourceVersion, {
          message: "edit after stale restart",
        })
        .toBe(true);
      const restarts = (
        await staleRegistry.getSingleMetric("kernel_gossip_aggregator_config_watch_restarts_total")?.get()
      )?.values;
      expect(restarts?.find((v) => v.labels.cause === "stale")?.value).toBeGreaterThanOrEqual(1);
    } finally {
      watcher.stop();
    }
  });
});
