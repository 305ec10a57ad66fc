// The aggregator, assembled: stream server (auth, limits) → batch pipeline (redelivery
// dedup, enrichment, CR writer) and the agent config push; the leader-only retention GC.
// stop() drains: in-flight batches are written and acked before agents are sent away.
import { hostname } from "node:os";
import type { Registry } from "prom-client";
import type { Clock } from "../shared/clock.ts";
import { listenError } from "../shared/errors.ts";
import { startOpsServer } from "../shared/http.ts";
import { loadKubeConfig } from "../shared/kube.ts";
import type { Logger } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { AgentConfigSource } from "./config-push/index.ts";
import { journalName, kubeJournalStore } from "./journal/index.ts";
import { createAggregatorMetrics } from "./metrics.ts";
import { type AggregatorOptions, checkAggregatorOptions } from "./options/index.ts";
import { startReadiness } from "./readiness.ts";
import { createRetention } from "./retention/index.ts";
import { startStreamServer } from "./stream/index.ts";
import { createAuthenticator, createPipeline, readTls } from "./wiring.ts";
import {
  kubeReplicaLeaseStore,
  replicaLeaseName,
  WRITE_BUDGET_FAMILY,
  WriteBudget,
} from "./write-budget/index.ts";

export interface AggregatorDeps {
  log: Logger;
  registry: Registry;
  clock: Clock;
  /** How often /readyz's view of the API server is refreshed (default 10 s; tests use less). */
  readinessIntervalMs?: number;
}

export interface RunningAggregator {
  streamPort: number;
  metricsPort: number;
  stop(): Promise<void>;
}

export async function startAggregator(
  o: AggregatorOptions,
  deps: AggregatorDeps,
): Promise<RunningAggregator> {
  const { clock, registry, log } = deps;
  const kubeConfig = loadKubeConfig(o.kubeconfig);
  const metrics = createAggregatorMetrics(registry);
  const identity = o.podName || hostname();

  const auth = createAuthenticator(o, { kubeConfig, clock, log, metrics: metrics.stream });
  checkAggregatorOptions(o);
  const tls = readTls(o);

  const pipeline = createPipeline(o, { kubeConfig, clock, log, metrics: metrics.pipeline, identity });
  pipeline.start();

  // The cluster-wide write budget, divided among the replicas alive (docs/adr/0011).
  const writeBudget = new WriteBudget({
    store: kubeReplicaLeaseStore(kubeConfig, o.podNamespace, WRITE_BUDGET_FAMILY),
    name: replicaLeaseName(identity),
    qps: o.writeQps,
    burst: o.writeBurst,
    leaseDurationMs: o.leaseDuration,
    bucket: pipeline.bucket,
    clock,
    log: log.child({ component: "write-budget" }),
    onShare: (replicas) => metrics.pipeline.writeBudgetReplicas.set(replicas),
  });
  writeBudget.start();

  // The write-ahead journal: counted acks wait for it, not for their whispers' writes
  // (docs/adr/0014); orphaned journals are judged by the write-budget Leases.
  const lease = replicaLeaseName(identity);
  pipeline.startJournal({
    store: kubeJournalStore(kubeConfig, o.podNamespace),
    name: journalName(lease, WRITE_BUDGET_FAMILY),
    lease,
    alive: (l) => writeBudget.alive(l),
    orphanCheckMs: o.leaseDuration,
  });

  const configSource = new AgentConfigSource({
    kubeConfig,
    namespace: o.podNamespace,
    name: o.agentConfigmap,
    clock,
    log,
    metrics: metrics.configPush,
    staleAfterMs: o.configWatchStaleAfter,
  });
  void configSource.start();

  const retention = createRetention({
    kubeConfig,
    clock,
    log,
    metrics: metrics.pipeline,
    settings: { ...o, podName: identity },
    fallbackIdentity: identity,
  });
  retention.start();

  const stopStarted = async (): Promise<void> => {
    configSource.stop();
    await pipeline.stop();
    await retention.stop();
  };
  const stream = await startStreamServer({
    port: o.streamPort,
    ...(tls && { tls }),
    auth,
    handler: pipeline,
    // Backpressure before shedding: the writer names the nodes whose agents are not read from.
    pressure: pipeline.writer.pressure,
    configSource,
    clock,
    log,
    metrics: metrics.stream,
    limits: {
      maxPayloadBytes: o.maxPayloadBytes,
      maxBatchEvents: o.maxBatchEvents,
      maxEventsPerSecond: o.maxEventsPerSecond,
      maxConnections: o.maxConnections,
      heartbeatIntervalMs: o.heartbeatInterval,
      authFailuresPerMinute: o.authFailuresPerMinute,
    },
  }).catch(async (err: unknown) => {
    await stopStarted();
    throw listenError(err, o.streamPort, "--stream-port / $STREAM_PORT");
  });
  const readiness = startReadiness({
    kubeConfig,
    clock,
    log,
    streamListening: stream.listening,
    ...(deps.readinessIntervalMs !== undefined && { intervalMs: deps.readinessIntervalMs }),
  });
  const ops = await startOpsServer({
    port: o.metricsPort,
    registry,
    log,
    health: { live: () => true, notReadyReason: readiness.notReadyReason },
  }).catch(async (err: unknown) => {
    readiness.stop();
    await Promise.all([stream.close({ drainMs: 0 }), stopStarted()]);
    throw listenError(err, o.metricsPort, "--metrics-port / $METRICS_PORT");
  });
  log.info(
    { streamPort: stream.port, metricsPort: ops.port, identity, version: VERSION, authMode: o.authMode },
    `aggregator ${identity} accepting agents on port ${stream.port} (${tls ? "wss" : "ws"})`,
  );

  return {
    streamPort: stream.port,
    metricsPort: ops.port,
    async stop() {
      // Graceful drain (docs/adr/0008): the stream stops reading frames at once, the pipeline
      // flushes every pending write (ignoring the per-object interval, up to its deadline),
      // the batches those writes complete are acked, and only then agents are told
      // KG_SHUTTING_DOWN. What misses the deadline is not acked; agents resend it elsewhere
      // and the whispers' delivery ledgers keep resends from being counted twice.
      const streamClosed = stream.close({ drainMs: o.shutdownTimeout + 2_000 });
      configSource.stop();
      await pipeline.stop();
      await writeBudget.stop();
      await streamClosed;
      await retention.stop();
      readiness.stop();
      await ops.close();
    },
  };
}
