// The pipeline's edge: wire events → the aggregator's own types. Numbers are sanitised
// here (finite, in range) so that builders always produce objects the CRD schema accepts.
// The number helpers live in wire-values.ts, a throttle sample's facts in throttle-facts.ts,
// the occurrence a prepared event hands its whisper in occurrence.ts.
import {
  Actor,
  OomSource,
  type PodRef,
  type WireEvent,
  type WirePressureWarning,
} from "../../shared/proto.ts";
import { ACTORS, type ActorName, type BirthFacts } from "../emit/birth.ts";
import { exitMeaning } from "../recommend/crash.ts";
import type {
  Enriched,
  Evidence,
  MemoryTriggerName,
  PodIdentity,
  PrecedingPressure,
  Signal,
} from "../types/index.ts";
import { throttleFacts } from "./throttle-facts.ts";
import { int, num, pressureOf, round, THROTTLE_STATES } from "./wire-values.ts";

/** Failure reasons that are their own signal; any other reason becomes "Error". */
const FAILURE_SIGNALS: Record<string, Signal> = {
  CrashLoopBackOff: "CrashLoopBackOff",
  OOMKilled: "OOMKilled",
  ImagePullBackOff: "ImagePullBackOff",
  ErrImagePull: "ImagePullBackOff",
  CreateContainerConfigError: "CreateContainerConfigError",
  Evicted: "Evicted",
  Error: "Error",
};

/** Name of a pod-level record's container (pod cgroup throttling). */
export const POD_LEVEL_CONTAINER = "(pod)";

/**
 * Identities of refs that name their node, by ref object: events about one pod share its ref
 * (the batch's pod table, the node binding's answer), so one identity serves them all.
 * Identities are read, never changed.
 */
const identities = new WeakMap<PodRef, PodIdentity>();

export function podIdentity(pod: PodRef | null | undefined, fallbackNode: string): PodIdentity | undefined {
  if (!pod?.uid || !pod.namespace || !pod.name) return undefined;
  const node = pod.node || fallbackNode;
  const qosClass = pod.qosClass ?? "";
  if (!pod.node) return { uid: pod.uid, namespace: pod.namespace, name: pod.name, node, qosClass };
  const known = identities.get(pod);
  if (
    known?.uid === pod.uid &&
    known.namespace === pod.namespace &&
    known.name === pod.name &&
    known.node === node &&
    known.qosClass === qosClass
  ) {
    return known;
  }
  const identity = { uid: pod.uid, namespace: pod.namespace, name: pod.name, node, qosClass };
  identities.set(pod, identity);
  return identity;
}

export interface SignalFacts {
  signal: Signal;
  count: number;
  evidence: Evidence;
  resolved: boolean;
  demandSamples: number[];
}

const TRIGGERS: readonly MemoryTriggerName[] = ["NearLimit", "LimitHit", "Stall"];

/**
 * The warning before an OOM kill at `killedAtMs`; the whisper name is filled in once the
 * workload is known (prepare.ts). Undefined when absent or when it opened after the kill.
 */
function precedingOf(
  w: WirePressureWarning | null | undefined,
  killedAtMs: number,
): PrecedingPressure | undefined {
  const openedAtMs = int(w?.openedAtMs);
  if (!w || openedAtMs <= 0 || openedAtMs > killedAtMs) return undefined;
  const resolvedAtMs = int(w.resolvedAtMs);
  return {
    whisper: "",
    openedAtMs,
    resolvedAtMs: resolvedAtMs >= openedAtMs ? resolvedAtMs : 0,
    leadSeconds: round((killedAtMs - openedAtMs) / 1000, 1),
    workingSetPeakBytes: int(w.workingSetPeakBytes),
    limitBytes: int(w.limitBytes),
  };
}

/** What a failure, OOM, throttle or memory event says; undefined for births and empty events. */
export function signalFacts(ev: WireEvent): SignalFacts | undefined {
  const count = Math.max(1, int(ev.count));
  if (ev.failure) {
    const f = ev.failure;
    const reason = f.reason ?? "";
    const signal = FAILURE_SIGNALS[reason] ?? "Error";
    const exitCode = int(f.exitCode, -(2 ** 31), 2 ** 31 - 1);
    const lastReason = f.lastReason ?? "";
    const evidence: Evidence = {
      termination: {
        reason: reason || "Unknown",
        lastReason,
        exitCode,
        signal: int(f.signal, 0, 255),
        message: f.message ?? "",
        restartCount: int(f.restartCount),
        backoffSeconds: int(f.backoffSeconds, 0, 2 ** 31 - 1),
        meaning: exitMeaning(exitCode, signal === "OOMKilled" ? "OOMKilled" : lastReason),
      },
    };
    if (signal === "OOMKilled") {
      evidence.oom = {
        source: "kubelet",
        limitBytes: int(f.memoryLimitBytes),
        peakBytes: 0,
        mainProcessSurvived: false,
      };
      const killedAt = int(f.finishedAtMs) || int(ev.observedAtMs);
      const precededBy = precedingOf(f.precedingPressure, killedAt);
      if (precededBy) evidence.oom.precededBy = precededBy;
    }
    return { signal, count, evidence, resolved: false, demandSamples: [] };
  }
  if (ev.oom) {
    const o = ev.oom;
    const precededBy = precedingOf(o.precedingPressure, int(ev.observedAtMs));
    return {
      signal: "OOMKilled",
      count: Math.max(count, int(o.kills)),
      evidence: {
        oom: {
          source: o.source === OomSource.OOM_SOURCE_KUBELET ? "kubelet" : "kernel",
          limitBytes: int(o.memoryLimitBytes),
          peakBytes: int(o.memoryPeakBytes),
          mainProcessSurvived: o.mainProcessSurvived === true,
          ...(precededBy && { precededBy }),
        },
      },
      resolved: false,
      demandSamples: [],
    };
  }
  if (ev.throttle) return throttleFacts(ev.throttle);
  if (ev.memory) {
    const m = ev.memory;
    const state = THROTTLE_STATES[m.state ?? 0] ?? "Update";
    const limitBytes = int(m.limitBytes);
    const workingSetBytes = int(m.workingSetBytes);
    const pressure = pressureOf(m.pressure);
    return {
      signal: "MemoryPressure",
      count: state === "Open" ? 1 : 0,
      evidence: {
        memory: {
          state,
          workingSetBytes,
          limitBytes,
          usageBytes: int(m.usageBytes),
          peakBytes: int(m.peakBytes),
          workingSetPeakBytes: Math.max(workingSetBytes, int(m.workingSetPeakBytes)),
          workingSetRatio: limitBytes > 0 ? round(Math.min(1, workingSetBytes / limitBytes)) : 0,
          windowMinRatio: limitBytes > 0 ? round(num(m.windowMinRatio, 0, 1)) : 0,
          windowSeconds: int(m.windowSeconds, 0, 2 ** 31 - 1),
          limitHits: int(m.limitHits),
          limitHitsTotal: int(m.limitHitsTotal),
          highEvents: int(m.highEvents),
          triggers: TRIGGERS.filter((t) => (m.triggers ?? []).includes(t)),
          samples: int(m.samples, 0, 2 ** 31 - 1),
          cgroupVersion: m.cgroupVersion === 1 || m.cgroupVersion === 2 ? m.cgroupVersion : 0,
          openedAtMs: int(m.openedAtMs),
          ...(pressure && { pressure }),
        },
      },
      resolved: state === "Resolved",
      demandSamples: [],
    };
  }
  return undefined;
}

const ACTOR_NAMES: Record<number, ActorName> = {
  [Actor.ACTOR_API_SERVER]: "APIServer",
  [Actor.ACTOR_SCHEDULER]: "Scheduler",
  [Actor.ACTOR_KUBELET]: "Kubelet",
  [Actor.ACTOR_RUNTIME]: "Runtime",
  [Actor.ACTOR_KERNEL]: "Kernel",
};

export function birthFacts(ev: WireEvent, pod: PodIdentity, enriched: Enriched): BirthFacts | undefined {
  const b = ev.birth;
  if (!b) return undefined;
  return {
    pod,
    enriched,
    ready: b.ready === true,
    failureReason: b.failureReason ?? "",
    createdAtMs: int(b.createdAtMs),
    totalMs: int(b.totalMs),
    steps: (b.steps ?? []).map((s) => ({
      name: s.name || "step",
      actor: ACTOR_NAMES[s.actor ?? 0] ?? (ACTORS[0] as ActorName),
      atMs: int(s.atMs),
      durationMs: int(s.durationMs),
      container: s.container ?? "",
    })),
    kernel: {
      cpuSeconds: round(num(b.cpuSeconds), 6),
      throttledPeriods: int(b.throttledPeriods),
      memoryPeakBytes: int(b.memoryPeakBytes),
      processCount: int(b.processCount),
    },
  };
}
