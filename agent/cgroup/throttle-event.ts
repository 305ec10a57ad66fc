// The wire shape of a CPU throttling episode step. The id is deterministic: a resend of the
// same step is the same event, and each episode (openedAtMs) has its own ids.
import { ThrottleState, type WireEvent } from "../../shared/proto.ts";
import type { PodView } from "../types/index.ts";
import type { DemandEstimate } from "./demand.ts";
import type { ThrottleLevels } from "./instance.ts";
import type { PressureWindow } from "./pressure.ts";
import type { SignalStep } from "./signal.ts";
import type { WindowStats } from "./window.ts";

const STATE = {
  open: ThrottleState.THROTTLE_STATE_OPEN,
  update: ThrottleState.THROTTLE_STATE_UPDATE,
  resolved: ThrottleState.THROTTLE_STATE_RESOLVED,
} as const;

export function throttleEvent(
  pod: PodView,
  container: string,
  step: SignalStep,
  stats: WindowStats | undefined,
  /** Cores; undefined = no limit (sent as 0, the wire's "no limit"). */
  limitCores: number | undefined,
  /** cpu.pressure over the window; its latest figures undefined when not readable. */
  pressure: PressureWindow | undefined,
  observedAtMs: number,
  /** The latest demand estimate (none: not enough data), which quota limited, the node's CPUs. */
  demand: { demand?: DemandEstimate | undefined; levels?: ThrottleLevels | undefined; nodeCpus: number },
): WireEvent {
  const psi = pressure?.wire();
  const levels = demand.levels;
  return {
    id: `${pod.uid}/${container}/cpu-throttle/${step.openedAtMs}/${step.state}/${step.seq}`,
    pod: pod.ref,
    container,
    observedAtMs,
    count: 1,
    throttle: {
      state: STATE[step.state],
      throttledRatio: levels?.ratio ?? stats?.ratio ?? 0,
      throttledSeconds: stats?.throttledSeconds ?? 0,
      coresUsed: stats?.coresUsed ?? 0,
      limitCores: limitCores ?? 0,
      demandCores: demand.demand?.cores ?? 0,
      windowSeconds: Math.round(stats?.windowSeconds ?? 0),
      nrPeriods: stats?.nrPeriods ?? 0,
      nrThrottled: stats?.nrThrottled ?? 0,
      pressureSomeAvg10: pressure?.latest?.someAvg10 ?? -1,
      demandSamples: step.demandSamples,
      ...(psi && { pressure: psi }),
      nodeCpus: demand.nodeCpus,
      demandMethod: demand.demand?.method ?? "",
      limitedBy: levels?.limitedBy ?? "container",
      podLimitCores: levels?.podLimitCores ?? 0,
      podThrottledRatio: levels?.podRatio ?? 0,
      runnableThreads: demand.demand?.runnableThreads ?? 0,
      episodeOpenedAtMs: step.openedAtMs,
    },
  };
}
