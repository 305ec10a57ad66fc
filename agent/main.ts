// The agent, assembled: pod watch → failure reporter / birth recorder, cgroup sampler,
// all into dedup → outbox → link. Dependencies are built here and passed down; nothing
// below reads the environment.
import { readFile } from "node:fs/promises";
import type { Registry } from "prom-client";
import type { Clock } from "../shared/clock.ts";
import { FatalError, listenError } from "../shared/errors.ts";
import { startOpsServer } from "../shared/http.ts";
import { type KubeEndpoint, KubeHttp, loadKubeEndpoint } from "../shared/kube-http.ts";
import type { Logger } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { CgroupSampler, detectLayout, syncReadCgroupFs } from "./cgroup/index.ts";
import { AgentLink } from "./link/index.ts";
import { createAgentMetrics } from "./metrics.ts";
import type { AgentOptions } from "./options.ts";
import { BirthRecorder } from "./pods/births.ts";
import { FailureReporter } from "./pods/failures.ts";
import { PodReporter } from "./pods/reporter.ts";
import { NamespaceScope } from "./pods/scope.ts";
import { PodWatch } from "./pods/watch.ts";
import { Deduplicator } from "./queue/dedup.ts";
import { Outbox } from "./queue/outbox.ts";
import { createConfigApplier, type RemoteSettings } from "./remote-config/index.ts";
import { keptWhileQueued, Spool, type SpoolMetrics } from "./spool/index.ts";

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

/**
 * The API server's credentials, checked once at start-up: an unreadable kubeconfig, or no
 * kubeconfig outside a pod, is a one-line fatal error, not a watch that retries for ever.
 */
function apiEndpoint(kubeconfig: string | undefined): KubeEndpoint {
  try {
    const endpoint = loadKubeEndpoint(kubeconfig);
    endpoint.server();
    return endpoint;
  } catch (err) {
    throw new FatalError(err instanceof Error ? err.message : String(err), { cause: err });
  }
}

export async function startAgent(o: AgentOptions, deps: AgentDeps): Promise<RunningAgent> {
  const { clock, registry } = deps;
  const log = deps.log;
  // Thin list/watch client, not client-node (docs/adr/0010: ~70 MiB less RSS per node).
  const kube = new KubeHttp(apiEndpoint(o.kubeconfig));
  const metrics = createAgentMetrics(registry);

  const layout = await detectLayout(o.cgroupRoot);
  if (layout.driver === "unknown") {
    log.warn(
      { cgroupRoot: o.cgroupRoot, layout: layout.description },
      `no kubelet cgroups found under ${o.cgroupRoot}: throttling and kernel OOM sensing stay idle until pods appear there; check that the host's /sys/fs/cgroup is mounted at CGROUP_ROOT`,
    );
  } else
    log.info(
      {
        cgroupRoot: o.cgroupRoot,
        layout: layout.description,
        hierarchies: layout.hierarchies,
        kubeletCgroupRoot: `/${layout.kubeletRoot.join("/")}`,
      },
      `cgroup layout detected: ${layout.description}`,
    );

  // What survives a restart: unacknowledged batches and what was already reported (ADR 0013).
  const spool = openSpool(o, log, metrics.spool);

  let link: AgentLink | undefined;
  const outbox = new Outbox({
    clock,
    log,
    metrics: metrics.queue,
    maxEvents: o.queueMaxEvents,
    maxBytes: o.queueMaxBytes,
    maxBatchEvents: o.maxBatchEvents,
    flushIntervalMs: o.flushInterval,
    isLineIdle: () => link?.isIdle() ?? true,
  });
  const dedup = new Deduplicator({
    next: outbox,
    clock,
    metrics: metrics.queue,
    cooldownMs: o.dedupCooldown,
    maxKeys: o.dedupMaxKeys,
  });

  let scopeSettings = {
    allow: o.namespaceAllow,
    deny: o.namespaceDeny,
    labelSelector: o.namespaceLabelSelector,
  };
  let failureSettings = { extraReasons: o.extraReasons, cooldownMs: o.dedupCooldown };
  let flushIntervalMs = o.flushInterval;
  // The cgroup sampler answers the failure reporter's OOM questions; it is built below.
  let samplerRef: CgroupSampler | undefined;
  const failures = new FailureReporter({
    clock,
    sink: dedup,
    settings: failureSettings,
    log,
    notCounted: metrics.pods.oomReportsNotCounted,
    kernel: {
      oomVerdict: async (containerId, deleting) =>
        samplerRef ? samplerRef.oomVerdict(containerId, deleting) : deleting ? "pod-deleted" : "unknown",
      pressureBefore: (uid, container, atMs) => samplerRef?.pressureBefore(uid, container, atMs),
    },
  });
  if (spool) failures.remember(spool.memory.reportedIds(), spool.memory.waitingIndexes());
  let watch: PodWatch | undefined;
  let reporter: PodReporter | undefined;
  const scope = new NamespaceScope({
    ownNamespace: o.podNamespace,
    optOutAnnotation: o.optOutAnnotation,
    settings: scopeSettings,
    kube,
    clock,
    log,
    staleAfterMs: o.watchStaleAfter,
    onChange: () => {
      if (watch && reporter) reporter.rescan(watch.pods());
    },
  });

  let watchRef: PodWatch | undefined;
  const sampler = new CgroupSampler({
    root: o.cgroupRoot,
    procRoot: o.procRoot,
    layout,
    // Only pods in scope are sampled; the directory reads the watch's current view.
    pods: {
      pods: function* () {
        for (const pod of watchRef?.pods() ?? []) if (scope.includes(pod)) yield pod;
      },
      byUid: (uid) => watchRef?.byUid(uid),
    },
    sink: dedup,
    // The first scan waits for the first pod list: a container it did not know would look
    // newly started on the next scan, and its whole OOM counter like new kills.
    ready: () => (watchRef?.ready() ?? false) && scope.ready(),
    ...(spool && { recall: spool.memory }),
    // cgroupfs files are kernel memory: a synchronous read costs ~9 µs of CPU against
    // 120-260 µs through fs/promises' thread pool (ADR 0002), and a whole scan ~7 ms.
    fs: syncReadCgroupFs,
    clock,
    log,
    metrics: metrics.cgroup,
    settings: {
      scanIntervalMs: o.scanInterval,
      windowMs: o.throttleWindow,
      openRatio: o.throttleThreshold,
      resolveAfterMs: o.throttleResolveAfter,
      updateIntervalMs: o.throttleUpdateInterval,
    },
    memory: {
      windowMs: o.memoryWindow,
      openRatio: o.memoryThreshold,
      stallPercent: o.memoryStallThreshold,
      resolveAfterMs: o.memoryResolveAfter,
      updateIntervalMs: o.memoryUpdateInterval,
    },
  });
  samplerRef = sampler;
  const births = new BirthRecorder({ clock, sink: dedup, metrics: metrics.pods, log, stats: sampler });
  reporter = new PodReporter({ scope, failures, births });
  watch = new PodWatch({
    kube,
    nodeName: o.nodeName,
    clock,
    log,
    metrics: metrics.pods,
    onPod: reporter.onPod,
    settings: { staleAfterMs: o.watchStaleAfter },
  });
  watchRef = watch;

  const applyRemote = (s: RemoteSettings): void => {
    if (s.dedupCooldownMs !== undefined) dedup.configure({ cooldownMs: s.dedupCooldownMs });
    failureSettings = {
      extraReasons: s.extraReasons ?? failureSettings.extraReasons,
      cooldownMs: s.dedupCooldownMs ?? failureSettings.cooldownMs,
    };
    failures.configure(failureSettings);
    if (s.maxBatchEvents !== undefined || s.flushIntervalMs !== undefined) {
      outbox.configure({ maxBatchEvents: s.maxBatchEvents, flushIntervalMs: s.flushIntervalMs });
      flushIntervalMs = s.flushIntervalMs ?? flushIntervalMs;
    }
    if (s.maxBatchEvents !== undefined) link?.configure({ maxBatchEvents: s.maxBatchEvents });
    sampler.configure({
      ...(s.scanIntervalMs !== undefined && { scanIntervalMs: s.scanIntervalMs }),
      ...(s.throttleOpenRatio !== undefined && { openRatio: s.throttleOpenRatio }),
      ...(s.throttleResolveAfterMs !== undefined && { resolveAfterMs: s.throttleResolveAfterMs }),
      ...(s.throttleUpdateIntervalMs !== undefined && { updateIntervalMs: s.throttleUpdateIntervalMs }),
    });
    sampler.configureMemory({
      ...(s.memoryOpenRatio !== undefined && { openRatio: s.memoryOpenRatio }),
      ...(s.memoryWindowMs !== undefined && { windowMs: s.memoryWindowMs }),
      ...(s.memoryResolveAfterMs !== undefined && { resolveAfterMs: s.memoryResolveAfterMs }),
      ...(s.memoryUpdateIntervalMs !== undefined && { updateIntervalMs: s.memoryUpdateIntervalMs }),
      ...(s.memoryStallPercent !== undefined && { stallPercent: s.memoryStallPercent }),
    });
    if (s.namespaceAllow || s.namespaceDeny || s.namespaceLabelSelector !== undefined) {
      scopeSettings = {
        allow: s.namespaceAllow ?? scopeSettings.allow,
        deny: s.namespaceDeny ?? scopeSettings.deny,
        labelSelector: s.namespaceLabelSelector ?? scopeSettings.labelSelector,
      };
      scope.configure(scopeSettings);
    }
  };
  // The agent's own settings: what a key removed from the ConfigMap (or the ConfigMap
  // deleted) reverts to.
  const local: RemoteSettings = {
    dedupCooldownMs: o.dedupCooldown,
    maxBatchEvents: o.maxBatchEvents,
    flushIntervalMs: o.flushInterval,
    extraReasons: o.extraReasons,
    throttleOpenRatio: o.throttleThreshold,
    throttleResolveAfterMs: o.throttleResolveAfter,
    throttleUpdateIntervalMs: o.throttleUpdateInterval,
    memoryOpenRatio: o.memoryThreshold,
    memoryWindowMs: o.memoryWindow,
    memoryResolveAfterMs: o.memoryResolveAfter,
    memoryUpdateIntervalMs: o.memoryUpdateInterval,
    memoryStallPercent: o.memoryStallThreshold,
    scanIntervalMs: o.scanInterval,
    namespaceAllow: o.namespaceAllow,
    namespaceDeny: o.namespaceDeny,
    namespaceLabelSelector: o.namespaceLabelSelector,
  };
  const config = createConfigApplier({ apply: applyRemote, metrics: metrics.link, log, local });

  if (o.agentToken === undefined && o.tokenFile === "") {
    log.warn("no --agent-token and no --token-file: the aggregator will refuse the connection");
  }
  link = new AgentLink({
    url: o.aggregatorUrl,
    token: async () =>
      o.agentToken !== undefined ? o.agentToken : (await readFile(o.tokenFile, "utf8")).trim(),
    ...(o.aggregatorCaFile !== undefined && { caFile: o.aggregatorCaFile }),
    outbox,
    hello: () => ({
      node: o.nodeName,
      cluster: o.clusterName,
      agentVersion: VERSION,
      capabilities: ["pod-failure", "kernel-oom", "cpu-throttle", "memory-pressure", "pod-birth"],
      configVersion: config.version(),
      cgroupLayout: layout.description,
    }),
    onConfig: config.onConfig,
    ...(spool && { journal: spool }),
    clock,
    log,
    metrics: metrics.link,
    settings: {
      heartbeatIntervalMs: o.heartbeatInterval,
      maxUnackedBatches: o.maxUnackedBatches,
      maxBatchEvents: o.maxBatchEvents,
    },
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
    ? keepPending(spool, dedup, outbox, clock, () => flushIntervalMs)
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

/**
 * Puts back what the previous process held in dedup and queued in the outbox (before any
 * detector reports: the restarted detectors take those ids and counter values as reported),
 * then keeps it in the spool: with every batch appended, and once per flush interval when it
 * changed (ADR 0013, "Held and queued counts"). Returns the stop of the interval.
 */
function keepPending(
  spool: Spool,
  dedup: Deduplicator,
  outbox: Outbox,
  clock: Clock,
  intervalMs: () => number,
): () => void {
  for (const held of spool.pending.held) dedup.restore(held);
  for (const event of spool.pending.queued) outbox.push(event);
  spool.keepPending(() => ({ held: dedup.heldCounts(), queued: outbox.queued(keptWhileQueued) }));
  let timer: ReturnType<Clock["setTimeout"]> | undefined;
  const tick = (): void => {
    spool.persistPending();
    timer = clock.setTimeout(tick, intervalMs());
    (timer as { unref?: () => void }).unref?.();
  };
  timer = clock.setTimeout(tick, intervalMs());
  (timer as { unref?: () => void }).unref?.();
  return () => {
    if (timer) clock.clearTimeout(timer);
    timer = undefined;
  };
}

/** The spool when SPOOL_DIR is set and usable; else the agent runs with memory only (logged). */
function openSpool(o: AgentOptions, log: Logger, metrics: SpoolMetrics): Spool | undefined {
  if (o.spoolDir === "") return undefined;
  try {
    return Spool.open({ dir: o.spoolDir, node: o.nodeName, maxBytes: o.spoolMaxBytes }, { log, metrics });
  } catch (err) {
    log.error(
      { err: (err as Error).message, spoolDir: o.spoolDir },
      `cannot use the spool under ${o.spoolDir}: unacknowledged batches and what was reported will not survive a restart; check the hostPath mount and that it is writable by the agent's user`,
    );
    return undefined;
  }
}
