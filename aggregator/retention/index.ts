// Retention: Lease-based leader election and the GC only the leader runs.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { AggregatorOptions } from "../options/index.ts";
import { kubeWhisperStore, RetentionGc } from "./gc.ts";
import { kubeLeaseStore, LeaderElector } from "./leader.ts";
import type { RetentionMetrics } from "./metrics.ts";

export { kubeWhisperStore, RetentionGc } from "./gc.ts";
export { kubeLeaseStore, LeaderElector } from "./leader.ts";

export type RetentionSettings = Pick<
  AggregatorOptions,
  "podNamespace" | "podName" | "leaseName" | "leaseDuration" | "retention" | "gcInterval" | "maxWhispers"
>;

export interface Retention {
  elector: LeaderElector;
  gc: RetentionGc;
  start(): void;
  /** Stops the GC, then hands the Lease back so the other replica takes over at once. */
  stop(): Promise<void>;
}

/** The elector and the GC wired together for the aggregator's main. */
export function createRetention(options: {
  kubeConfig: KubeConfig;
  clock: Clock;
  log: Logger;
  metrics: RetentionMetrics;
  settings: RetentionSettings;
  /** This replica's identity when --pod-name is empty (e.g. os.hostname()). */
  fallbackIdentity: string;
}): Retention {
  const { kubeConfig, clock, metrics, settings: s } = options;
  const log = options.log.child({ component: "retention" });
  const elector = new LeaderElector({
    store: kubeLeaseStore(
      kubeConfig,
      s.podNamespace,
      s.leaseName,
      Math.max(500, Math.floor(s.leaseDuration / 3)),
    ),
    identity: s.podName || options.fallbackIdentity,
    leaseDurationMs: s.leaseDuration,
    clock,
    log,
    metrics,
  });
  const gc = new RetentionGc({
    store: kubeWhisperStore(kubeConfig),
    isLeader: () => elector.isLeader(),
    clock,
    log,
    metrics,
    retentionMs: s.retention,
    intervalMs: s.gcInterval,
    maxWhispers: s.maxWhispers,
  });
  return {
    elector,
    gc,
    start() {
      elector.start();
      gc.start();
    },
    async stop() {
      await gc.stop();
      await elector.stop({ release: true });
    },
  };
}
