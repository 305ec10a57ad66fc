// What the batch pipeline is configured with, and what its stages hand each other.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { WireEvent } from "../../shared/proto.ts";
import type { CrClient } from "../emit/kube.ts";
import type { EventSink } from "../emit/pod-events.ts";
import type { LookupSource } from "../enrich/index.ts";
import type { PodSource } from "../enrich/pods.ts";
import type { AggregatorOptions } from "../options/index.ts";
import type { HpaSource } from "../recommend/hpa.ts";
import type { PipelineMetrics } from "./metrics.ts";
import type { PendingBatch } from "./pending-batch.ts";

export type PipelineSettings = Pick<
  AggregatorOptions,
  | "projectLabel"
  | "workloadLabel"
  | "ownerCacheSize"
  | "ownerCacheTtl"
  | "redeliveryCacheSize"
  | "redeliveryCacheBytes"
  | "maxPendingObjects"
  | "maxPendingBytes"
  | "throttleWarning"
  | "throttleCritical"
  | "memoryWarning"
  | "memoryCritical"
  | "writeQps"
  | "writeBurst"
  | "objectMinInterval"
  | "maxAffectedPods"
  | "podEvents"
  | "podName"
  | "verifyPods"
  | "journalInterval"
  | "journalMaxBytes"
>;

export interface PipelineOptions {
  kubeConfig: KubeConfig;
  clock: Clock;
  log: Logger;
  metrics: PipelineMetrics;
  settings: PipelineSettings;
  cluster: string;
  /** Deadline for flushing pending writes on stop(). Default 10 s. */
  stopDeadlineMs?: number;
  /** Write retry backoff (default 500 ms → 30 s). */
  retry?: { initialMs: number; maxMs: number };
  /** Kubernetes requests are aborted after this long (CR writes retried, lookups fall back). Default 30 s. */
  requestTimeoutMs?: number;
  /**
   * Watch KernelWhispers to keep the copies the writer holds fresh (emit/whisper-watch.ts).
   * Default: on when the writer talks to the API server (no `client` given).
   */
  whisperWatch?: boolean;
  /** Replace the Kubernetes-backed parts (tests); defaults use kubeConfig. */
  client?: CrClient;
  lookup?: LookupSource;
  hpa?: HpaSource;
  events?: EventSink;
  pods?: PodSource;
}

/** An event this batch processes first; `id` indexes batch.ids (-1: the event has no id). */
export interface Fresh {
  ev: WireEvent;
  id: number;
}

/** Takes an event that will not reach an object out of the in-flight map (not remembered as done). */
export type Forget = (batch: PendingBatch, f: Fresh) => void;
