// The aggregator's own small domain types: what a whisper is about and what was seen.
// Wire events are turned into these at the pipeline's edge; emit/ and recommend/ speak
// only these.
import type { WireEvent } from "../../shared/proto.ts";

/** Where a batch came from: what the stream knows of the connection that carried it. */
export interface BatchContext {
  node: string;
  connectionId: string;
  agentVersion: string;
  /**
   * The agent process (Hello.instance_id); "" or absent for agents that do not send one
   * (then only the event-id LRU drops redeliveries). The stream server always sets it;
   * optional so in-process callers without a link (bench, tests) need not invent one.
   */
  instance?: string;
  /** The batch's sequence number on that agent's link (with `instance`). */
  seq?: number;
}

/**
 * What the stream server hands each batch to (the pipeline): resolves once the batch's
 * events are written (then it is acked), rejects to leave it unacked for a resend.
 * The stream calls it with every field of the context set.
 */
export interface BatchHandler<Context extends BatchContext = BatchContext> {
  handleBatch(ctx: Context, events: WireEvent[]): Promise<{ dropped: number }>;
}

/**
 * The writer's backpressure on the stream (emit/write-pressure.ts): while it is pressing, the
 * stream stops reading from the agents whose batches in flight exceed their share of
 * `headroomBytes`; they keep their unacked batches and stop sending. The composition root
 * (aggregator/main.ts) hands the writer's to the stream server.
 */
export interface PendingBytesPressure {
  /** --max-pending-bytes. */
  readonly maxBytes: number;
  /** What the connections not paused may still bring, together, while pressing. */
  readonly headroomBytes: number;
  heldBytes(): number;
  /** True from the high-water mark until the writer is under the low-water mark. */
  pressing(): boolean;
  /** `listener` runs after every change of `pressing()`. */
  onChange(listener: () => void): void;
}

/** Signals a KernelWhisper can carry (crds/kernelwhispers.yaml spec.signal enum). */
export const SIGNALS = [
  "CPUThrottling",
  "MemoryPressure",
  "OOMKilled",
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "CreateContainerConfigError",
  "Evicted",
  "Error",
] as const;
export type Signal = (typeof SIGNALS)[number];

/**
 * Signals that are state, not counted occurrences: the agent's next sample supersedes a
 * lost one within a scan interval, so their batches are acknowledged once folded into the
 * object's pending write (ADR 0011). Every other signal counts occurrences and its ack
 * waits for the write that carries the count (ADR 0004, 0008).
 */
export const STATE_SIGNALS: ReadonlySet<string> = new Set<Signal>(["CPUThrottling"]);

export type Severity = "info" | "warning" | "critical";
export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export interface WorkloadRef {
  /** Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, …; Pod (bare); Label (workload label). */
  kind: string;
  name: string;
}

/** Who a record is about, after enrichment. */
export interface Enriched {
  cluster: string;
  project: string;
  workload: WorkloadRef;
}

export interface PodIdentity {
  uid: string;
  namespace: string;
  name: string;
  node: string;
  qosClass: string;
}

export type ThrottleStateName = "Open" | "Update" | "Resolved";

export interface ThrottlingEvidence {
  state: ThrottleStateName;
  ratio: number;
  throttledSeconds: number;
  coresUsed: number;
  limitCores: number;
  /** The latest interval's demand estimate, cores (ADR 0012); 0 with demandMethod "none". */
  demandCores: number;
  windowSeconds: number;
  pressureSomeAvg10: number;
  /** How demandCores was computed: "threads", "cgroup-upper-bound", or "none" (not enough data). */
  demandMethod: DemandMethodName;
  /** The node's CPUs (0 unknown: an older agent): no demand or limit above it is physical. */
  nodeCpus: number;
  /** Which CFS quota throttled: the container's or the pod cgroup's. */
  limitedBy: "container" | "pod";
  /** The pod cgroup's CPU limit (0 none) and throttled ratio over the window. */
  podLimitCores: number;
  podRatio: number;
  /** Threads that ran or waited to run in the last interval; 0 unknown. */
  runnableThreads: number;
  /** cpu.pressure in full; absent when the node has no PSI for the cgroup. */
  pressure?: PressureEvidence;
}

/** PSI of one resource: percent averages as the kernel writes them, stall seconds over the window. */
export interface PressureEvidence {
  someAvg10: number;
  someAvg60: number;
  fullAvg10: number;
  fullAvg60: number;
  someStallSeconds: number;
  fullStallSeconds: number;
}

export type MemoryTriggerName = "NearLimit" | "LimitHit" | "Stall";

/** MemoryPressure: OOM risk before the kill, read from the container's memory cgroup. */
export interface MemoryPressureEvidence {
  state: ThrottleStateName;
  workingSetBytes: number;
  /** 0 = no limit. */
  limitBytes: number;
  usageBytes: number;
  peakBytes: number;
  workingSetPeakBytes: number;
  /** Working set / limit now (0-1); 0 without a limit. */
  workingSetRatio: number;
  /** Lowest working set / limit over the window (0-1); 0 without a limit. */
  windowMinRatio: number;
  windowSeconds: number;
  limitHits: number;
  limitHitsTotal: number;
  highEvents: number;
  triggers: MemoryTriggerName[];
  samples: number;
  cgroupVersion: number;
  openedAtMs: number;
  pressure?: PressureEvidence;
}

/** The MemoryPressure episode that preceded an OOM kill. */
export interface PrecedingPressure {
  /** The MemoryPressure whisper of the same workload and container ("" until named). */
  whisper: string;
  openedAtMs: number;
  /** 0 = still open at the kill. */
  resolvedAtMs: number;
  /** Kill time minus the episode's opening: how long before the kill the warning came. */
  leadSeconds: number;
  workingSetPeakBytes: number;
  limitBytes: number;
}

export const DEMAND_METHODS = ["threads", "cgroup-upper-bound", "none"] as const;
export type DemandMethodName = (typeof DEMAND_METHODS)[number];

export interface OomEvidence {
  source: "kubelet" | "kernel";
  limitBytes: number;
  peakBytes: number;
  mainProcessSurvived: boolean;
  precededBy?: PrecedingPressure;
}

export interface TerminationEvidence {
  reason: string;
  lastReason: string;
  exitCode: number;
  signal: number;
  message: string;
  restartCount: number;
  backoffSeconds: number;
  meaning?: string;
}

export interface Evidence {
  throttling?: ThrottlingEvidence;
  memory?: MemoryPressureEvidence;
  oom?: OomEvidence;
  termination?: TerminationEvidence;
}

export type RecommendationAction =
  | "SetCPULimit"
  | "RemoveCPULimit"
  | "HPAManaged"
  | "NoLimit"
  | "SetMemoryLimit"
  | "FixCrash"
  | "NotEnoughData"
  | "Investigate";

export type Confidence = "none" | "low" | "medium" | "high";

export interface Recommendation {
  action: RecommendationAction;
  /** Numbers first, then one sentence. */
  summary: string;
  cpuLimit?: string;
  memoryLimit?: string;
  confidence?: Confidence;
  samples?: number;
}
