// The agent's stages, each built from the options by a small factory: the pod pipeline
// (scope, pod watch, failure reporter, birth recorder, cgroup sampler), the live application
// of remote settings, and the spool when SPOOL_DIR is set; the delivery path (dedup → outbox
// → link) is in agent/delivery.ts. startAgent (agent/main.ts) lists the wiring steps.
import type { Backoff } from "../shared/backoff.ts";
import type { Clock } from "../shared/clock.ts";
import { FatalError } from "../shared/errors.ts";
import { type KubeEndpoint, loadKubeEndpoint } from "../shared/kube-endpoint.ts";
import type { KubeHttp } from "../shared/kube-http.ts";
import type { Logger } from "../shared/log.ts";
import { type CgroupLayout, CgroupSampler, syncReadCgroupFs, type ThrottleSettings } from "./cgroup/index.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { AgentOptions } from "./options.ts";
import { BirthRecorder } from "./pods/births.ts";
import { FailureReporter } from "./pods/failures.ts";
import { PodReporter } from "./pods/reporter.ts";
import { NamespaceScope } from "./pods/scope.ts";
import { PodWatch } from "./pods/watch.ts";
import type { Deduplicator } from "./queue/dedup.ts";
import type { Outbox } from "./queue/outbox.ts";
import type { RemoteSettings } from "./remote-config/index.ts";
import { Spool, type SpoolMetrics } from "./spool/index.ts";

/**
 * The API server's credentials, checked once at start-up: an unreadable kubeconfig, or no
 * kubeconfig outside a pod, is a one-line fatal error, not a watch that retries for ever.
 */
export function apiEndpoint(kubeconfig: string | undefined): KubeEndpoint {
  try {
    const endpoint = loadKubeEndpoint(kubeconfig);
    endpoint.server();
    return endpoint;
  } catch (err) {
    throw new FatalError(err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/** One line saying which cgroup layout was found, or a warning that none was. */
export function logLayout(layout: CgroupLayout, o: AgentOptions, log: Logger): void {
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
}

export interface PodPipeline {
  scope: NamespaceScope;
  watch: PodWatch;
  sampler: CgroupSampler;
  failures: FailureReporter;
  births: BirthRecorder;
  reporter: PodReporter;
}

/**
 * The pod side of the agent: the pod watch feeds the reporter (scope, then failures and
 * births); the cgroup sampler reads the pods in scope and answers the failure reporter's
 * OOM questions. Built in dependency order; the two callbacks that reach forward (the
 * watch's onPod, the scope's onChange) only run once the stages are started.
 */
export function createPodPipeline(
  o: AgentOptions,
  deps: {
    clock: Clock;
    log: Logger;
    metrics: AgentMetrics;
    kube: KubeHttp;
    layout: CgroupLayout;
    sink: Deduplicator;
    spool: Spool | undefined;
    /** The pod watch's restart backoff; its own (1 s → 30 s) when unset. Tests use a faster one. */
    watchBackoff?: Backoff;
  },
): PodPipeline {
  const { clock, log, metrics, kube, layout, sink, spool } = deps;
  const scope = new NamespaceScope({
    ownNamespace: o.podNamespace,
    optOutAnnotation: o.optOutAnnotation,
    settings: { allow: o.namespaceAllow, deny: o.namespaceDeny, labelSelector: o.namespaceLabelSelector },
    kube,
    clock,
    log,
    staleAfterMs: o.watchStaleAfter,
    onChange: () => reporter.rescan(watch.pods()),
  });
  const watch = new PodWatch({
    kube,
    nodeName: o.nodeName,
    clock,
    log,
    metrics: metrics.pods,
    onPod: (prev, next) => reporter.onPod(prev, next),
    settings: { staleAfterMs: o.watchStaleAfter },
    ...(deps.watchBackoff && { backoff: deps.watchBackoff }),
  });
  const sampler = new CgroupSampler({
    root: o.cgroupRoot,
    procRoot: o.procRoot,
    layout,
    // Only pods in scope are sampled; the directory reads the watch's current view.
    pods: {
      pods: function* () {
        for (const pod of watch.pods()) if (scope.includes(pod)) yield pod;
      },
      byUid: (uid) => watch.byUid(uid),
    },
    sink,
    // The first scan waits for the first pod list: a container it did not know would look
    // newly started on the next scan, and its whole OOM counter like new kills.
    ready: () => watch.ready() && scope.ready(),
    ...(spool && { recall: spool.memory }),
    // cgroupfs files are kernel memory: a synchronous read costs ~9 µs of CPU against
    // 120-260 µs through fs/promises' thread pool (ADR 0002), and a whole scan ~7 ms.
    fs: syncReadCgroupFs,
    clock,
    log,
    metrics: metrics.cgroup,
    settings: throttleSettings(o),
    memory: {
      windowMs: o.memoryWindow,
      openRatio: o.memoryThreshold,
      stallPercent: o.memoryStallThreshold,
      resolveAfterMs: o.memoryResolveAfter,
      updateIntervalMs: o.memoryUpdateInterval,
    },
  });
  const failures = new FailureReporter({
    clock,
    sink,
    settings: { extraReasons: o.extraReasons, cooldownMs: o.dedupCooldown },
    log,
    notCounted: metrics.pods.oomReportsNotCounted,
    kernel: {
      oomVerdict: (containerId, deleting) => sampler.oomVerdict(containerId, deleting),
      pressureBefore: (uid, container, atMs) => sampler.pressureBefore(uid, container, atMs),
    },
  });
  if (spool) failures.remember(spool.memory.reportedIds(), spool.memory.waitingIndexes());
  const births = new BirthRecorder({ clock, sink, metrics: metrics.pods, log, stats: sampler });
  const reporter = new PodReporter({ scope, failures, births });
  return { scope, watch, sampler, failures, births, reporter };
}

/** The agent's own settings: what a key removed from the ConfigMap (or the ConfigMap deleted) reverts to. */
export function localSettings(o: AgentOptions): RemoteSettings {
  return {
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
}

/**
 * Applies remote settings live to each stage that has them; `flushIntervalMs` is the one in
 * force (the spool keeps pending counts at that interval).
 */
export function createRemoteApplier(
  o: AgentOptions,
  stages: {
    dedup: Deduplicator;
    failures: FailureReporter;
    outbox: Outbox;
    sampler: CgroupSampler;
    scope: NamespaceScope;
    link: { configure(settings: { maxBatchEvents: number }): void };
  },
): { apply: (s: RemoteSettings) => void; flushIntervalMs: () => number } {
  const { dedup, failures, outbox, sampler, scope } = stages;
  let failureSettings = { extraReasons: o.extraReasons, cooldownMs: o.dedupCooldown };
  let scopeSettings = {
    allow: o.namespaceAllow,
    deny: o.namespaceDeny,
    labelSelector: o.namespaceLabelSelector,
  };
  let flushIntervalMs = o.flushInterval;
  const apply = (s: RemoteSettings): void => {
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
    if (s.maxBatchEvents !== undefined) stages.link.configure({ maxBatchEvents: s.maxBatchEvents });
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
  return { apply, flushIntervalMs: () => flushIntervalMs };
}

/** The spool when SPOOL_DIR is set and usable; else the agent runs with memory only (logged). */
export function openSpool(o: AgentOptions, log: Logger, metrics: SpoolMetrics): Spool | undefined {
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

/** The CPU throttling signal's settings from the agent's options. */
export function throttleSettings(o: AgentOptions): ThrottleSettings {
  return {
    scanIntervalMs: o.scanInterval,
    windowMs: o.throttleWindow,
    openRatio: o.throttleThreshold,
    resolveAfterMs: o.throttleResolveAfter,
    updateIntervalMs: o.throttleUpdateInterval,
  };
}
