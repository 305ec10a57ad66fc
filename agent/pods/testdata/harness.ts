// The agent's pod path, assembled the way agent main does it, against a real API server:
// PodWatch → PodReporter (scope) → FailureReporter + BirthRecorder → Deduplicator → a
// collecting sink. Plus real kubectl to shape pods.
import { execFile } from "node:child_process";
import { Backoff } from "../../../shared/backoff.ts";
import { systemClock } from "../../../shared/clock.ts";
import { loadKubeEndpoint } from "../../../shared/kube-endpoint.ts";
import { KubeHttp } from "../../../shared/kube-http.ts";
import { type Logger, silentLogger } from "../../../shared/log.ts";
import { createRegistry } from "../../../shared/metrics.ts";
import type { WireEvent } from "../../../shared/proto.ts";
import { Deduplicator } from "../../queue/dedup.ts";
import { createQueueMetrics } from "../../queue/metrics.ts";
import { BirthRecorder } from "../births.ts";
import { FailureReporter } from "../failures.ts";
import { createPodsMetrics } from "../metrics.ts";
import { PodReporter } from "../reporter.ts";
import { NamespaceScope, type ScopeSettings } from "../scope.ts";
import { PodWatch } from "../watch.ts";

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

/** Polls `check` until it holds; event-driven tests wait with generous timeouts, never sleep. */

export interface AgentHarness {
  events: WireEvent[];
  watch: PodWatch;
  scope: NamespaceScope;
  dedup: Deduplicator;
  births: BirthRecorder;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): void;
}

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
  const podsMetrics = createPodsMetrics(registry);
  const queueMetrics = createQueueMetrics(registry);
  const events: WireEvent[] = [];
  const cooldownMs = options.cooldownMs ?? 180_000;
  const dedup = new Deduplicator({
    next: { emit: (e) => events.push(e) },
    clock,
    metrics: queueMetrics,
    cooldownMs,
    maxKeys: 10_000,
  });
  const failures = new FailureReporter({
    clock,
    sink: dedup,
    settings: { extraReasons: options.extraReasons ?? [], cooldownMs },
  });
  const births = new BirthRecorder({ clock, sink: dedup, metrics: podsMetrics, log });
  let watch: PodWatch | undefined;
  const scope = new NamespaceScope({
    ownNamespace: "kernel-gossip",
    optOutAnnotation: "kernel-gossip.io/ignore",
    settings: {
      allow: options.scope?.allow ?? [],
      deny: options.scope?.deny ?? ["kube-system", "kube-public", "kube-node-lease"],
      labelSelector: options.scope?.labelSelector ?? "",
    },
    kube,
    clock,
    log,
    staleAfterMs: 180_000,
    onChange: () => {
      if (watch) reporter.rescan(watch.pods());
    },
  });
  const reporter = new PodReporter({ scope, failures, births });
  watch = new PodWatch({
    kube,
    nodeName: options.node,
    clock,
    log,
    metrics: podsMetrics,
    onPod: reporter.onPod,
    settings: { staleAfterMs: options.staleAfterMs ?? 180_000 },
    backoff: new Backoff({ initialMs: 100, maxMs: 1_000 }),
  });
  scope.start();
  watch.start();
  const w = watch;
  return {
    events,
    watch: w,
    scope,
    dedup,
    births,
    async metric(name, labels = {}) {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
      const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
      return v?.value ?? 0;
    },
    stop() {
      w.stop();
      scope.stop();
      kube.close();
    },
  };
}
