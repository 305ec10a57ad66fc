// The agent, assembled: pod watch → failure reporter / birth recorder, cgroup sampler,
// all into dedup → outbox → link. Each stage is built by a factory in agent/wiring.ts or
// agent/delivery.ts (which tests and benchmarks reuse); startAgent lists the wiring steps. Dependencies
// are built here and passed down; nothing below reads the environment.
import type { Registry } from "prom-client";
import type { Clock } from "../shared/clock.ts";
import { listenError } from "../shared/errors.ts";
import { startOpsServer } from "../shared/http.ts";
import { KubeHttp } from "../shared/kube-http.ts";
import type { Logger } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { detectLayout } from "./cgroup/index.ts";
import { createDelivery } from "./delivery.ts";
import { createAgentMetrics } from "./metrics.ts";
import type { AgentOptions } from "./options.ts";
import { createConfigApplier } from "./remote-config/index.ts";
import { keepPending } from "./spool/keep-pending.ts";
import {
  apiEndpoint,
  createPodPipeline,
  createRemoteApplier,
  localSettings,
  logLayout,
  openSpool,
} from "./wiring.ts";

export interface AgentDeps {
  log: Logger;
  registry: Registry;
  clock: Clock;
}

export interface RunningAgent {
  metricsPort: number;
  /**
   * Decides pending kernel OOMs, hands on every count dedup holds, flushes and waits for acks
   * up to the shutdown timeout; says what was not delivered (at shutdown and earlier).
   */
  stop(): Promise<{ delivered: number; undelivered: number; droppedEarlier: number; spooled?: number }>;
}

export async function startAgent(o: AgentOptions, deps: AgentDeps): Promise<RunningAgent> {
  const { clock, registry, log } = deps;
  // Thin list/watch client, not client-node (docs/adr/0010: ~70 MiB less RSS per node).
  const kube = new KubeHttp(apiEndpoint(o.kubeconfig));
  const metrics = createAgentMetrics(registry);
  const layout = await detectLayout(o.cgroupRoot);
  logLayout(layout, o, log);
  // What survives a restart: unacknowledged batches and what was already reported (ADR 0013).
  const spool = openSpool(o, log, metrics.spool);
  // Dedup → outbox → link. The link's config callbacks reach the applier built below; they
  // run only once the link has connected.
  const { dedup, outbox, link } = createDelivery(o, {
    clock,
    log,
    metrics,
    cgroupLayout: layout.description,
    configVersion: () => config.version(),
    onConfig: (frame) => config.onConfig(frame),
    ...(spool && { journal: spool }),
  });
  const pods = createPodPipeline(o, { clock, log, metrics, kube, layout, sink: dedup, spool });
  const { scope, watch, sampler, failures } = pods;
  const remote = createRemoteApplier(o, { dedup, failures, outbox, sampler, scope, link });
  const config = createConfigApplier({
    apply: remote.apply,
    metrics: metrics.link,
    log,
    local: localSettings(o),
  });

  // The port first: a port in use is a start-up failure before any watch or connection exists.
  const ops = await startOpsServer({
    port: o.metricsPort,
    registry,
    log,
    health: {
      live: () => true,
      notReadyReason: () => {
        if (!watch.ready()) return "pod watch has not listed this node's pods yet";
        if (!scope.ready()) return "namespace scope not loaded yet";
        return undefined;
      },
    },
  }).catch((err: unknown) => {
    throw listenError(err, o.metricsPort, "--metrics-port / $METRICS_PORT");
  });
  scope.start();
  watch.start();
  sampler.start();
  link.start();
  const stopKeepingPending = spool
    ? keepPending(spool, dedup, outbox, clock, remote.flushIntervalMs)
    : () => {};
  log.info(
    { aggregator: o.aggregatorUrl, metricsPort: ops.port, version: VERSION },
    `agent started for node ${o.nodeName}`,
  );

  return {
    metricsPort: ops.port,
    async stop() {
      watch.stop();
      scope.stop();
      await sampler.stop(); // a scan in progress emits its events first
      // One last read of the counters: a kernel OOM kill since the last scan is still counted.
      await sampler
        .scanOnce()
        .catch((err: unknown) => log.warn({ err }, "the last cgroup scan before stopping failed"));
      dedup.flush();
      dedup.stop();
      stopKeepingPending();
      const result = await link.stop(o.shutdownTimeout);
      kube.close();
      spool?.close();
      await ops.close();
      return result;
    },
  };
}
