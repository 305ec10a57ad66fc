// PodBirthCertificate: a record of one pod incarnation's birth, written once with
// server-side apply, owned by its Pod so garbage collection removes it with the pod.

import type { Enriched, PodIdentity } from "../types/index.ts";
import { birthCertificateName } from "./names.ts";
import { API_VERSION, type KObj } from "./whisper.ts";

export const BIRTH_PLURAL = "podbirthcertificates";
export const ACTORS = ["Unknown", "APIServer", "Scheduler", "Kubelet", "Runtime", "Kernel"] as const;
export type ActorName = (typeof ACTORS)[number];
const MAX_STEPS = 64;

export interface BirthStepFacts {
  name: string;
  actor: ActorName;
  atMs: number;
  durationMs: number;
  container: string;
}

export interface BirthFacts {
  pod: PodIdentity;
  enriched: Enriched;
  ready: boolean;
  failureReason: string;
  createdAtMs: number;
  totalMs: number;
  steps: BirthStepFacts[];
  kernel: { cpuSeconds: number; throttledPeriods: number; memoryPeakBytes: number; processCount: number };
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * A birth duration at the precision its timestamps have. creationTimestamp, condition
 * transitions and container startedAt/finishedAt are metav1.Time — whole seconds on every
 * real cluster — so a phase is shown in whole seconds, and one that began and ended within
 * the same second as "<1s" (never "0ms", a precision nobody measured). 4200 → "4s",
 * 95000 → "1m35s", 0 or 850 → "<1s".
 */
export function humanDuration(ms: number): string {
  if (ms < 1000) return "<1s";
  const total = Math.round(ms / 1000);
  if (total < 60) return `${total}s`;
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  return seconds ? `${minutes}m${seconds}s` : `${minutes}m`;
}

export function slowestPhase(steps: readonly BirthStepFacts[]): string {
  const slowest = steps.reduce<BirthStepFacts | undefined>(
    (best, s) => (best === undefined || s.durationMs > best.durationMs ? s : best),
    undefined,
  );
  if (!slowest) return "";
  const what = slowest.container ? `${slowest.name} ${slowest.container}` : slowest.name;
  return `${what} (${slowest.actor}) ${humanDuration(slowest.durationMs)}`;
}

export class BirthCertificate {
  readonly kind = "PodBirthCertificate";
  readonly name: string;
  readonly namespace: string;
  readonly facts: BirthFacts;

  constructor(facts: BirthFacts) {
    this.facts = facts;
    this.name = birthCertificateName(facts.pod.name, facts.pod.uid);
    this.namespace = facts.pod.namespace;
  }

  body(): KObj {
    const f = this.facts;
    const steps = f.steps.slice(0, MAX_STEPS);
    const qos = ["Guaranteed", "Burstable", "BestEffort"].includes(f.pod.qosClass) ? f.pod.qosClass : "";
    const spec: KObj = {
      cluster: f.enriched.cluster.slice(0, 253),
      project: f.enriched.project.slice(0, 253),
      workload: { kind: f.enriched.workload.kind.slice(0, 63), name: f.enriched.workload.name.slice(0, 253) },
      pod: {
        name: f.pod.name.slice(0, 253),
        uid: f.pod.uid.slice(0, 64),
        node: f.pod.node.slice(0, 253),
        qosClass: qos,
      },
      ready: f.ready,
      totalMs: Math.max(0, Math.round(f.totalMs)),
      duration: humanDuration(Math.max(0, f.totalMs)),
      slowestPhase: slowestPhase(steps).slice(0, 512),
      steps: steps.map((s) => {
        const step: KObj = {
          name: s.name.slice(0, 128),
          actor: s.actor,
          durationMs: Math.max(0, Math.round(s.durationMs)),
        };
        if (s.atMs > 0) step.at = iso(s.atMs);
        if (s.container) step.container = s.container.slice(0, 253);
        return step;
      }),
      kernel: {
        cpuSeconds: Math.max(0, f.kernel.cpuSeconds),
        throttledPeriods: Math.max(0, Math.round(f.kernel.throttledPeriods)),
        memoryPeakBytes: Math.max(0, Math.round(f.kernel.memoryPeakBytes)),
        processCount: Math.max(0, Math.round(f.kernel.processCount)),
      },
    };
    if (f.createdAtMs > 0) spec.createdAt = iso(f.createdAtMs);
    if (f.failureReason) spec.failureReason = f.failureReason.slice(0, 1024);
    return {
      apiVersion: API_VERSION,
      kind: this.kind,
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { "app.kubernetes.io/managed-by": "kernel-gossip" },
        ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: f.pod.name, uid: f.pod.uid }],
      },
      spec,
    };
  }
}
