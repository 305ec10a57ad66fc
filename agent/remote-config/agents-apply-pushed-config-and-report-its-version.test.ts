import { CoreV1Api } from "@kubernetes/client-node";
import { afterEach, expect, it } from "vitest";
import { AgentConfigSource, createConfigPushMetrics } from "../../aggregator/config-push/index.ts";
import {
  createStaticAuthenticator,
  createStreamMetrics,
  startStreamServer,
} from "../../aggregator/stream/index.ts";
import { Backoff } from "../../shared/backoff.ts";
import { ManualClock, systemClock } from "../../shared/clock.ts";
import { loadKubeConfig } from "../../shared/kube.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { startKubeApi } from "../../test/kube-api/index.ts";
import { createLinkMetrics } from "../link/index.ts";
import { testLink } from "../link/testing/harness.ts";
import { createConfigApplier, type RemoteSettings } from "./index.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

it("a ConfigMap edit reaches a connected agent live; the agent reports the applied version in Hello and metrics", async () => {
  const api = await startKubeApi();
  cleanup.push(() => api.close());
  const kubeConfig = loadKubeConfig(api.kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: "kernel-gossip" } } });
  const first = await core.createNamespacedConfigMap({
    namespace: "kernel-gossip",
    body: { metadata: { name: "agent-config" }, data: { dedupCooldown: "5m", flushInterval: "100ms" } },
  });
  const source = new AgentConfigSource({
    kubeConfig,
    namespace: "kernel-gossip",
    name: "agent-config",
    clock: systemClock,
    log: silentLogger(),
    metrics: createConfigPushMetrics(createRegistry({ defaultMetrics: false })),
  });
  await source.start();
  cleanup.push(async () => source.stop());
  const server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["tok=node-a"], silentLogger()),
    handler: { handleBatch: async () => ({ dropped: 0 }) },
    configSource: source,
    clock: systemClock,
    log: silentLogger(),
    metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
    limits: {
      maxPayloadBytes: 1 << 20,
      maxBatchEvents: 100,
      maxEventsPerSecond: 1000,
      maxConnections: 10,
      heartbeatIntervalMs: 60_000,
    },
  });
  cleanup.push(() => server.close());

  const registry = createRegistry({ defaultMetrics: false });
  const metrics = createLinkMetrics(registry);
  const applied: { settings: RemoteSettings; version: string }[] = [];
  const applier = createConfigApplier({
    apply: (settings, version) => applied.push({ settings, version }),
    metrics,
    log: silentLogger(),
  });
  const clock = new ManualClock();
  // The link and the config applier joined as startAgent joins them.
  const { link } = testLink({
    url: `ws://127.0.0.1:${server.port}/stream`,
    clock,
    onConfig: applier.onConfig,
    configVersion: applier.version,
    settings: { heartbeatIntervalMs: 60_000, maxUnackedBatches: 4, maxBatchEvents: 10 },
    backoff: new Backoff({ initialMs: 100, maxMs: 100 }),
  });
  link.start();
  cleanup.push(() => link.stop(0));

  await expect.poll(() => applied.length === 1, { message: "config after Hello" }).toBe(true);
  expect(applied[0]).toEqual({
    version: first.metadata?.resourceVersion,
    settings: { dedupCooldownMs: 300_000, flushIntervalMs: 100 },
  });
  const edited = await core.replaceNamespacedConfigMap({
    name: "agent-config",
    namespace: "kernel-gossip",
    body: {
      metadata: { name: "agent-config" },
      data: { dedupCooldown: "1m", namespaceDeny: "kube-system,batch" },
    },
  });
  await expect.poll(() => applied.length === 2, { message: "edit pushed live" }).toBe(true);
  expect(applied[1]).toEqual({
    version: edited.metadata?.resourceVersion,
    settings: { dedupCooldownMs: 60_000, namespaceDeny: ["kube-system", "batch"] },
  });
  const info = (await registry.getSingleMetric("kernel_gossip_agent_config_info")?.get())?.values;
  expect(info).toEqual([{ labels: { version: edited.metadata?.resourceVersion }, value: 1 }]);

  // a new connection says which version it applies
  await server.close();
  const server2 = await startStreamServer({
    port: server.port,
    host: "127.0.0.1",
    auth: createStaticAuthenticator(["tok=node-a"], silentLogger()),
    handler: { handleBatch: async () => ({ dropped: 0 }) },
    clock: systemClock,
    log: silentLogger(),
    metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
    limits: {
      maxPayloadBytes: 1 << 20,
      maxBatchEvents: 100,
      maxEventsPerSecond: 1000,
      maxConnections: 10,
      heartbeatIntervalMs: 60_000,
    },
  });
  cleanup.push(() => server2.close());
  await expect.poll(() => !link.connected(), { message: "disconnected" }).toBe(true);
  clock.advance(100);
  await expect
    .poll(() => server2.connections()[0]?.configVersion !== undefined, { message: "reconnected with Hello" })
    .toBe(true);
  expect(server2.connections()[0]?.configVersion).toBe(edited.metadata?.resourceVersion);
});
