// The pipeline's edge: wire events → the aggregator's own types. Numbers are sanitised
// here (finite, in range) so that builders always produce objects the CRD schema accepts.
import {
  Actor,
  OomSource,
  type PodRef,
  ThrottleState,
  type WireEvent,
  type WirePressure,
  type WirePressureWarning,
} from "../../shared/proto.ts";
import { ACTORS, type ActorName, type BirthFacts } from "../emit/birth.ts";
import type { Occurrence } from "../emit/whisper.ts";
import { exitMeaning } from "../recommend/crash.ts";
import {
  DEMAND_METHODS,
  type DemandMethodName,
  type Enriched,
  type Evidence,
  type MemoryTriggerName,
  type PodIdentity,
  type PrecedingPressure,
  type PressureEvidence,
  type Signal,
  type ThrottleStateName,
  type ThrottlingEvidence,
} from "../types/index.ts";

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

const DEMAND_METHOD_SET: ReadonlySet<string> = new Set(DEMAND_METHODS);

/** Name of a pod-level record's container (pod cgroup throttling). */
export const POD_LEVEL_CONTAINER = "(pod)";

const num = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number => {
  const n = typeof v === "number" ? v : Number(v ?? 0);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : min;
};
const int = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number => Math.round(num(v, min, max));
/**
 * Rounded to `digits` decimals. Math.round rather than toFixed: ~15× faster on the ingest path
 * (several per throttle event); the two agree except at exact binary halves, and huge
 * values (no decimals to round) are returned as they are.
 */
const round = (n: number, digits = 4): number => {
  const scale = digits === 4 ? 10_000 : 10 ** digits;
  const scaled = Math.round(n * scale);
  return Number.isSafeInteger(scaled) ? scaled / scale : n;
};

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

const THROTTLE_STATES: Record<number, ThrottleStateName> = {
  [ThrottleState.THROTTLE_STATE_OPEN]: "Open",
  [ThrottleState.THROTTLE_STATE_UPDATE]: "Update",
  [ThrottleState.THROTTLE_STATE_RESOLVED]: "Resolved",
};

/** PSI as sent; percentages clamped to 0-100, stall seconds to a day. Undefined when absent. */
function pressureOf(p: WirePressure | null | undefined): PressureEvidence | undefined {
  if (!p) return undefined;
  const pct = (v: unknown) => round(num(v, 0, 100), 2);
  const secs = (v: unknown) => round(num(v, 0, 86_400), 3);
  return {
    someAvg10: pct(p.someAvg10),
    someAvg60: pct(p.someAvg60),
    fullAvg10: pct(p.fullAvg10),
    fullAvg60: pct(p.fullAvg60),
    someStallSeconds: secs(p.someStallSeconds),
    fullStallSeconds: secs(p.fullStallSeconds),
  };
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
  if (ev.throttle) {
    const t = ev.throttle;
    const state = THROTTLE_STATES[t.state ?? 0] ?? "Update";
    // No demand above the node's CPUs is physical (ADR 0012). An agent that does not say its
    // node's CPUs predates ADR 0012: its "demand" is usage + throttled time, which is not
    // demand and has no bound, so it is not used (the recommendation says not enough data).
    const nodeCpus = int(t.nodeCpus, 0, 100_000);
    const physical = nodeCpus > 0;
    // Per throttle event: one pass, no intermediate arrays, the array allocated at its size.
    const wire = physical ? t.demandSamples : undefined;
    const samples: number[] = wire && wire.length > 0 ? new Array(wire.length) : [];
    let kept = 0;
    if (wire) {
      for (let i = 0; i < wire.length; i++) {
        const v = round(num(wire[i], 0, nodeCpus));
        if (v > 0) samples[kept++] = v;
      }
      samples.length = kept;
    }
    const demand = physical ? round(num(t.demandCores, 0, nodeCpus)) : 0;
    if (samples.length === 0 && demand > 0 && state !== "Resolved") samples.push(demand);
    return new ThrottleFacts(t, state, demand, nodeCpus, samples);
  }
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

type WireThrottle = NonNullable<WireEvent["throttle"]>;

/**
 * A throttle sample's facts; its evidence is built when first read. A batch carries several
 * samples of one whisper and the whisper keeps the newest one's evidence only, so the others'
 * are never built (per throttle event: the largest object the pipeline made).
 */
class ThrottleFacts implements SignalFacts {
  readonly signal = "CPUThrottling" as const;
  readonly count: number;
  readonly resolved: boolean;
  readonly demandSamples: number[];
  #t: WireThrottle | undefined;
  #state: ThrottleStateName;
  #demand: number;
  #nodeCpus: number;
  #evidence: Evidence | undefined;

  constructor(
    t: WireThrottle,
    state: ThrottleStateName,
    demand: number,
    nodeCpus: number,
    samples: number[],
  ) {
    this.count = state === "Open" ? 1 : 0;
    this.resolved = state === "Resolved";
    this.demandSamples = samples;
    this.#t = t;
    this.#state = state;
    this.#demand = demand;
    this.#nodeCpus = nodeCpus;
  }

  get evidence(): Evidence {
    if (this.#evidence) return this.#evidence;
    const t = this.#t as WireThrottle;
    const pressure =
      typeof t.pressureSomeAvg10 === "number" && t.pressureSomeAvg10 >= 0 ? t.pressureSomeAvg10 : -1;
    const throttling: ThrottlingEvidence = {
      state: this.#state,
      ratio: round(num(t.throttledRatio, 0, 1)),
      throttledSeconds: round(num(t.throttledSeconds)),
      coresUsed: round(num(t.coresUsed)),
      limitCores: round(num(t.limitCores)),
      demandCores: this.#demand,
      windowSeconds: int(t.windowSeconds),
      pressureSomeAvg10: round(num(pressure, -1, 100)),
      demandMethod: DEMAND_METHOD_SET.has(t.demandMethod ?? "")
        ? (t.demandMethod as DemandMethodName)
        : "none",
      nodeCpus: this.#nodeCpus,
      limitedBy: t.limitedBy === "pod" ? "pod" : "container",
      podLimitCores: round(num(t.podLimitCores, 0, 100_000)),
      podRatio: round(num(t.podThrottledRatio, 0, 1)),
      runnableThreads: int(t.runnableThreads, 0, 1_000_000),
    };
    // Assigned rather than spread into the literal: same keys in the same order.
    if (t.pressure) throttling.pressure = pressureOf(t.pressure);
    this.#evidence = { throttling };
    this.#t = undefined; // the decoded sample is not kept past this
    return this.#evidence;
  }
}

/**
 * A prepared event's occurrence: the facts' evidence is read through it when the whisper
 * keeps it (the newest of the batch), not copied out when the occurrence is made.
 */
export class PreparedOccurrence implements Occurrence {
  hpa: string | undefined = undefined;
  readonly pod: PodIdentity;
  readonly observedAtMs: number;
  readonly count: number;
  readonly episode: number | undefined;
  readonly resolved: boolean;
  readonly demandSamples: readonly number[];
  #facts: SignalFacts;

  constructor(facts: SignalFacts, pod: PodIdentity, observedAtMs: number, episode: number | undefined) {
    this.#facts = facts;
    this.pod = pod;
    this.observedAtMs = observedAtMs;
    this.episode = episode;
    this.count = facts.count;
    this.resolved = facts.resolved;
    this.demandSamples = facts.demandSamples;
  }

  get evidence(): Evidence {
    return this.#facts.evidence;
  }
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
