// The wire shape of a MemoryPressure episode step, and the record of recent episodes that
// lets a later OOM kill of the same container say how long before it the warning came.
import { ThrottleState, type WireEvent, type WirePressureWarning } from "../../shared/proto.ts";
import type { PodView } from "../types/index.ts";
import type { MemoryReading } from "./memory.ts";
import type { MemoryStep } from "./memory-signal.ts";
import type { MemoryStats } from "./memory-window.ts";
import type { PressureWindow } from "./pressure.ts";

const STATE = {
  open: ThrottleState.THROTTLE_STATE_OPEN,
  update: ThrottleState.THROTTLE_STATE_UPDATE,
  resolved: ThrottleState.THROTTLE_STATE_RESOLVED,
} as const;

export function memoryEvent(
  pod: PodView,
  container: string,
  step: MemoryStep,
  reading: MemoryReading | undefined,
  stats: MemoryStats | undefined,
  pressure: PressureWindow | undefined,
  version: 1 | 2,
  observedAtMs: number,
): WireEvent {
  const psi = pressure?.wire();
  return {
    id: `${pod.uid}/${container}/memory-pressure/${step.openedAtMs}/${step.state}/${step.seq}`,
    pod: pod.ref,
    container,
    observedAtMs,
    count: 1,
    memory: {
      state: STATE[step.state],
      workingSetBytes: reading?.workingSetBytes ?? 0,
      limitBytes: reading?.limitBytes ?? 0,
      usageBytes: reading?.usageBytes ?? 0,
      peakBytes: reading?.peakBytes ?? 0,
      workingSetPeakBytes: step.peakBytes,
      windowMinRatio: stats?.minRatio ?? 0,
      windowSeconds: Math.round(stats?.windowSeconds ?? 0),
      limitHits: stats?.limitHits ?? 0,
      limitHitsTotal: reading?.limitHits ?? 0,
      highEvents: stats?.highEvents ?? 0,
      ...(psi && { pressure: psi }),
      triggers: step.triggers,
      samples: step.samples,
      cgroupVersion: version,
      openedAtMs: step.openedAtMs,
    },
  };
}

interface Episode {
  openedAtMs: number;
  resolvedAtMs: number;
  peakBytes: number;
  limitBytes: number;
}

/** Bound of containers remembered (oldest dropped first). */
const MAX_REMEMBERED = 10_000;

/**
 * The latest MemoryPressure episode per pod uid + container name. Kept past the container
 * instance (an OOM kill restarts it under a new id) and read by both OOM paths: the kernel
 * counter (agent/cgroup/oom.ts) and the kubelet's OOMKilled (agent/pods).
 */
export class PressureHistory {
  readonly #episodes = new Map<string, Episode>();

  opened(uid: string, container: string, openedAtMs: number, peakBytes: number, limitBytes: number): void {
    const key = `${uid}/${container}`;
    this.#episodes.delete(key);
    this.#episodes.set(key, { openedAtMs, resolvedAtMs: 0, peakBytes, limitBytes });
    if (this.#episodes.size > MAX_REMEMBERED) {
      const oldest = this.#episodes.keys().next().value;
      if (oldest !== undefined) this.#episodes.delete(oldest);
    }
  }

  /** The open episode's latest peak and limit. */
  update(uid: string, container: string, peakBytes: number, limitBytes: number): void {
    const e = this.#episodes.get(`${uid}/${container}`);
    if (e && e.resolvedAtMs === 0) {
      e.peakBytes = Math.max(e.peakBytes, peakBytes);
      if (limitBytes > 0) e.limitBytes = limitBytes;
    }
  }

  resolved(uid: string, container: string, atMs: number): void {
    const e = this.#episodes.get(`${uid}/${container}`);
    if (e && e.resolvedAtMs === 0) e.resolvedAtMs = atMs;
  }

  /**
   * The warning before a kill at `killedAtMs`: the latest episode that opened before it and
   * was still open, or resolved at most `lookbackMs` before it.
   */
  before(
    uid: string,
    container: string,
    killedAtMs: number,
    lookbackMs: number,
  ): WirePressureWarning | undefined {
    const e = this.#episodes.get(`${uid}/${container}`);
    if (!e || e.openedAtMs > killedAtMs) return undefined;
    if (e.resolvedAtMs !== 0 && killedAtMs - e.resolvedAtMs > lookbackMs) return undefined;
    return {
      openedAtMs: e.openedAtMs,
      resolvedAtMs: e.resolvedAtMs,
      workingSetPeakBytes: e.peakBytes,
      limitBytes: e.limitBytes,
    };
  }
}
