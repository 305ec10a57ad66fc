// The vocabulary of a KernelWhisper as the emit stage holds it: who it is about, one
// observation folded into it, what a status write carried, an affected pod, its settings.
import type { SeverityThresholds } from "../recommend/severity.ts";
import type { Enriched, Evidence, PodIdentity, Signal } from "../types/index.ts";
import type { PendingSnapshot } from "./pending.ts";

export interface WhisperIdentity extends Enriched {
  namespace: string;
  container: string;
  signal: Signal;
}

/** One observation folded into a whisper. */
export interface Occurrence {
  pod: PodIdentity;
  observedAtMs: number;
  /**
   * Occurrences this stands for (0 for a throttling update: only episodes opened count).
   * Ignored when `episode` is set: the episode counts once, at its first sample folded.
   */
  count: number;
  /** The throttling episode this sample belongs to (episodes.ts episodeKey); undefined: not named. */
  episode?: number | undefined;
  evidence: Evidence;
  /** Throttling episode resolved: the whisper turns Resolved. */
  resolved: boolean;
  demandSamples: readonly number[];
  /** HPA targeting the workload, if any (CPUThrottling). */
  hpa?: string | undefined;
}

/** What one status write carried beyond the object's previous counts, by delivery tag. */
export interface WrittenDelta {
  total: number;
  pods: Map<string, number>;
  buckets: PendingSnapshot;
}

export const emptyDelta = (): WrittenDelta => ({ total: 0, pods: new Map(), buckets: new Map() });

export interface AffectedPod {
  name: string;
  uid: string;
  node: string;
  lastSeenMs: number;
  /** Like the whisper's count: what the object held for this pod, plus what is unwritten. */
  baseline: number;
  delta: number;
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects read back from the API are untyped JSON
export type KObj = Record<string, any>;

export interface WhisperSettings {
  thresholds: SeverityThresholds;
  maxAffectedPods: number;
  /** Events found already counted by the object (delivery ledger) and not counted again. */
  onRedelivered?: (events: number) => void;
}
