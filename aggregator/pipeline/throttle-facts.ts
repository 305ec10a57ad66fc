// A CPU throttle sample's facts (ADR 0012 bounds): demand samples within the node's CPUs, and
// the evidence built only when read — a batch carries several samples of one whisper and the
// whisper keeps the newest one's evidence only.
import { ThrottleState, type WireEvent } from "../../shared/proto.ts";
import {
  DEMAND_METHODS,
  type DemandMethodName,
  type Evidence,
  type ThrottleStateName,
  type ThrottlingEvidence,
} from "../types/index.ts";
import type { SignalFacts } from "./from-wire.ts";
import { int, num, pressureOf, round, THROTTLE_STATES } from "./wire-values.ts";

const DEMAND_METHOD_SET: ReadonlySet<string> = new Set(DEMAND_METHODS);
/** Placeholder while no sample is kept; never returned (replaced by a fresh array). */
const EMPTY: number[] = [];

/** What a throttle sample says. */
export function throttleFacts(t: WireThrottle): SignalFacts {
  const state = THROTTLE_STATES[t.state ?? 0] ?? "Update";
  // No demand above the node's CPUs is physical (ADR 0012). An agent that does not say its
  // node's CPUs predates ADR 0012: its "demand" is usage + throttled time, which is not
  // demand and has no bound, so it is not used (the recommendation says not enough data).
  const nodeCpus = int(t.nodeCpus, 0, 100_000);
  const physical = nodeCpus > 0;
  // Per throttle event: one pass, no intermediate arrays. The decoded array itself when every
  // sample is kept as it is (the usual case: agents send in-range, rounded samples; the decoded
  // event is released after its fold), else a copy allocated at its size from the first change.
  const wire = physical ? t.demandSamples : undefined;
  let samples: number[] = EMPTY;
  if (wire && wire.length > 0) {
    let i = 0;
    for (; i < wire.length; i++) {
      const w = wire[i];
      if (w !== round(num(w, 0, nodeCpus)) || !((w as number) > 0)) break;
    }
    if (i === wire.length) samples = wire;
    else {
      samples = new Array(wire.length);
      let kept = 0;
      for (let j = 0; j < i; j++) samples[kept++] = wire[j] as number;
      for (; i < wire.length; i++) {
        const v = round(num(wire[i], 0, nodeCpus));
        if (v > 0) samples[kept++] = v;
      }
      samples.length = kept;
    }
  }
  const demand = physical ? round(num(t.demandCores, 0, nodeCpus)) : 0;
  if (samples.length === 0 && demand > 0 && state !== "Resolved") samples = [demand];
  else if (samples.length === 0) samples = [];
  return new ThrottleFacts(t, state, demand, nodeCpus, samples);
}

export type WireThrottle = NonNullable<WireEvent["throttle"]>;

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
 * A throttle sample that names its episode (CpuThrottle.episode_opened_at_ms) and is not its
 * resolution: state, acknowledged once folded and counted by its episode's name (ADR 0011).
 * Folding it again counts nothing twice, so the pipeline does not keep its id for redelivery
 * dedup (ADR 0011, "Redelivery of state samples").
 */
export function foldsByEpisode(ev: WireEvent): boolean {
  const t = ev.throttle;
  if (!t || t.state === ThrottleState.THROTTLE_STATE_RESOLVED) return false;
  return episodeOpenedAt(ev) !== undefined;
}

/**
 * When the episode a throttle sample names opened (CpuThrottle.episode_opened_at_ms), in ms;
 * undefined for other events and agents that name none (0, or not a safe integer).
 */
export function episodeOpenedAt(ev: WireEvent): number | undefined {
  const openedAtMs = Number(ev.throttle?.episodeOpenedAtMs ?? 0);
  return openedAtMs > 0 && Number.isSafeInteger(openedAtMs) ? openedAtMs : undefined;
}
