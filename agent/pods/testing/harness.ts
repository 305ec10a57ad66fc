// The agent's pod path, built by the agent's own factory (agent/wiring.ts createPodPipeline)
// against a real API server: PodWatch → PodReporter (scope) → FailureReporter +
// BirthRecorder → Deduplicator → a collecting sink. Plus real kubectl to shape pods.
import { execFile } from "node:child_process";
import { Backoff } from "../../../shared/backoff.ts";
import { systemClock } from "../../../shared/clock.ts";
import { loadKubeEndpoint } from "../../../shared/kube-endpoint.ts";
import { KubeHttp } from "../../../shared/kube-http.ts";
import { type Logger, silentLogger } from "../../../shared/log.ts";
import { createRegistry } from "../../../shared/metrics.ts";
import type { WireEvent } from "../../../shared/proto.ts";
import type { CgroupLayout } from "../../cgroup/index.ts";
import { createDedup } from "../../delivery.ts";
import { createAgentMetrics } from "../../metrics.ts";
import type { Deduplicator } from "../../queue/dedup.ts";
import { testAgentOptions } from "../../testing.ts";
import { createPodPipeline } from "../../wiring.ts";
import type { BirthRecorder } from "../births.ts";
import type { NamespaceScope, ScopeSettings } from "../scope.ts";
import type { PodWatch } from "../watch.ts";

export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "kubectl",
      ["--kubeconfig", kubeconfig, ...args],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl ${args.join(" ")}: ${stderr || err.message}`));
        else resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

export interface AgentHarness {
  events: WireEvent[];
  watch: PodWatch;
  scope: NamespaceScope;
  dedup: Deduplicator;
  births: BirthRecorder;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): void;
}

/** The pod path needs no cgroups: the sampler is built (the reporter asks it about OOMs) but not started. */
const NO_CGROUPS: CgroupLayout = {
  version: 2,
  driver: "unknown",
  root: "/nonexistent",
  hierarchies: {},
  kubeletRoot: [],
  description: "none (the pod path only)",
};

export function startAgent(options: {
  kubeconfigPath: string;
  node: string;
  extraReasons?: string[];
  scope?: Partial<ScopeSettings>;
  staleAfterMs?: number;
  cooldownMs?: number;
  log?: Logger;
}): AgentHarness {
  const kube = new KubeHttp(loadKubeEndpoint(options.kubeconfigPath));
  const clock = systemClock;
  const log = options.log ?? silentLogger();
  const registry = createRegistry({ defaultMetrics: false });
  const metrics = createAgentMetrics(registry);
  const events: WireEvent[] = [];
  const o = testAgentOptions({
    nodeName: options.node,
    ...(options.extraReasons && { extraReasons: options.extraReasons }),
    ...(options.scope?.allow && { namespaceAllow: [...options.scope.allow] }),
    ...(options.scope?.deny && { namespaceDeny: [...options.scope.deny] }),
    ...(options.scope?.labelSelector !== undefined && {
      namespaceLabelSelector: options.scope.labelSelector,
    }),
    ...(options.staleAfterMs !== undefined && { watchStaleAfter: options.staleAfterMs }),
    ...(options.cooldownMs !== undefined && { dedupCooldown: options.cooldownMs }),
  });
  const dedup = createDedup(o, { next: { emit: (e) => events.push(e) }, clock, metrics: metrics.queue });
  const { watch, scope, births } = createPodPipeline(o, {
    clock,
    log,
    metrics,
    kube,
    layout: NO_CGROUPS,
    sink: dedup,
    spool: undefined,
    watchBackoff: new Backoff({ initialMs: 100, maxMs: 1_000 }),
  });
  scope.start();
  watch.start();
  return {
    events,
    watch,
    scope,
    dedup,
    births,
    async metric(name, labels = {}) {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
      const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
      return v?.value ?? 0;
    },
    stop() {
      watch.stop();
      scope.stop();
      kube.close();
    },
  };
}
