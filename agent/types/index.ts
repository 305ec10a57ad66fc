// The few types the agent's parts share. The pod watch turns V1Pod into PodFacts at the
// edge (agent/pods/facts.ts); the cgroup sensors, the birth recorder and the queue speak
// only these.
import type { PodRef, WireEvent } from "../../shared/proto.ts";

export type QosClass = "Guaranteed" | "Burstable" | "BestEffort";

/** What the cgroup sensors need to know about one container. */
export interface ContainerView {
  name: string;
  /** Current instance, with runtime prefix: "containerd://<64 hex>", "cri-o://…", "docker://…". */
  containerId?: string;
  running: boolean;
  restartCount: number;
  /** Container's CPU limit in cores from the pod spec, when set (the cgroup is authoritative). */
  cpuLimitCores?: number;
  memoryLimitBytes?: number;
}

/** What the cgroup sensors need to know about one pod. PodFacts satisfies it. */
export interface PodView {
  uid: string;
  qosClass: QosClass;
  /** Wire identity (uid, namespace, name, node, labels, owners, qos), built once per pod change. */
  ref: PodRef;
  containers: readonly ContainerView[];
  /** Set once the pod's deletion started (deletionTimestamp), unix ms. */
  deletingSinceMs?: number;
}

/** Current pods on this node, as last seen by the pod watch. */
export interface PodDirectory {
  pods(): Iterable<PodView>;
  byUid(uid: string): PodView | undefined;
}

/** What dedup did with an event: passed on (carrying `count` occurrences) or held back (`held` of its key wait). */
export type Emitted = { passed: true; count: number } | { passed: false; held: number };

/** Where detectors put events: dedup, then the bounded outgoing queue. */
export interface EventSink {
  emit(event: WireEvent): void;
}

/** A sink that may say what became of the event (dedup does), for outcome log lines. */
export interface ReportingSink {
  // biome-ignore lint/suspicious/noConfusingVoidType: any EventSink (returning void) is a ReportingSink that does not say.
  emit(event: WireEvent): Emitted | undefined | void;
}

/** Kernel figures for a pod's birth certificate, read from its cgroups. */
export interface KernelStats {
  cpuSeconds: number;
  throttledPeriods: number;
  memoryPeakBytes: number;
  processCount: number;
}

export interface KernelStatsSource {
  /** undefined when the pod's cgroup cannot be found (yet). Never throws. */
  podStats(pod: PodView): Promise<KernelStats | undefined>;
}
