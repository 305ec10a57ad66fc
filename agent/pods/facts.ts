// The edge: a V1Pod (typed, from a list; or raw JSON, from a watch event — timestamps are
// then strings, not Dates) becomes our small PodFacts once, and everything inside the agent
// speaks PodFacts. Only what the detector, the birth recorder and the cgroup sensors need.
import type { V1Container, V1ContainerState, V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import type { PodRef } from "../../shared/proto.ts";
import type { ContainerView, PodView, QosClass } from "../types/index.ts";
import { parseBytes, parseQuantity } from "./quantity.ts";

export type ContainerKindName = "regular" | "init" | "sidecar";

export interface WaitingFacts {
  reason: string;
  message: string;
}

export interface TerminatedFacts {
  reason: string;
  exitCode: number;
  signal: number;
  message: string;
  startedAtMs?: number;
  finishedAtMs?: number;
  containerId: string;
}

/** One container state in small form; at most one of the three is set. */
export interface StateFacts {
  waiting?: WaitingFacts;
  running?: { startedAtMs?: number };
  terminated?: TerminatedFacts;
}

export interface ContainerFacts extends ContainerView {
  kind: ContainerKindName;
  ready: boolean;
  started: boolean;
  state: StateFacts;
  lastState: StateFacts;
}

export interface PodConditionsFacts {
  /** Whether the Ready condition is True now. */
  ready: boolean;
  scheduledAtMs?: number;
  /** PodReadyToStartContainers (sandbox and network ready, Kubernetes ≥ 1.29). */
  sandboxReadyAtMs?: number;
  initializedAtMs?: number;
  containersReadyAtMs?: number;
  readyAtMs?: number;
  /** Last transition of the Ready condition, True or False. */
  readyChangedAtMs?: number;
}

export interface PodFacts extends PodView {
  namespace: string;
  name: string;
  node: string;
  /** Pending | Running | Succeeded | Failed | Unknown. */
  phase: string;
  /** Pod-level status.reason, e.g. "Evicted". */
  reason: string;
  message: string;
  annotations: Readonly<Record<string, string>>;
  createdAtMs: number;
  /** Set once deletion started (graceful termination). */
  deletingSinceMs?: number;
  resourceVersion: string;
  conditions: PodConditionsFacts;
  containers: readonly ContainerFacts[];
}

type Time = Date | string | undefined;

/** Unix milliseconds of an API timestamp, whether deserialised (Date) or raw JSON (string). */
function toMs(time: Time): number | undefined {
  if (time === undefined || time === null) return undefined;
  const ms = time instanceof Date ? time.getTime() : Date.parse(time);
  return Number.isFinite(ms) ? ms : undefined;
}

function stateFacts(state: V1ContainerState | undefined): StateFacts {
  if (!state) return {};
  if (state.terminated) {
    const t = state.terminated;
    const exitCode = t.exitCode ?? 0;
    return {
      terminated: {
        reason: t.reason ?? "",
        exitCode,
        // The kubelet rarely fills `signal`; an exit code above 128 is 128 + signal number.
        signal: t.signal ?? (exitCode > 128 && exitCode < 160 ? exitCode - 128 : 0),
        message: t.message ?? "",
        startedAtMs: toMs(t.startedAt as Time),
        finishedAtMs: toMs(t.finishedAt as Time),
        containerId: t.containerID ?? "",
      },
    };
  }
  if (state.waiting)
    return { waiting: { reason: state.waiting.reason ?? "", message: state.waiting.message ?? "" } };
  if (state.running) return { running: { startedAtMs: toMs(state.running.startedAt as Time) } };
  return {};
}

function containerFacts(
  spec: V1Container,
  status: V1ContainerStatus | undefined,
  kind: ContainerKindName,
): ContainerFacts {
  const limits = spec.resources?.limits as Record<string, string | number> | undefined;
  const state = stateFacts(status?.state);
  return {
    name: spec.name,
    containerId: status?.containerID || undefined,
    running: state.running !== undefined,
    restartCount: status?.restartCount ?? 0,
    cpuLimitCores: parseQuantity(limits?.cpu),
    memoryLimitBytes: parseBytes(limits?.memory),
    kind,
    ready: status?.ready ?? false,
    started: status?.started ?? false,
    state,
    lastState: stateFacts(status?.lastState),
  };
}

const QOS: readonly QosClass[] = ["Guaranteed", "Burstable", "BestEffort"];

/** status.qosClass when the API server set it; otherwise the same rule it applies. */
function qosOf(pod: V1Pod, containers: readonly V1Container[]): QosClass {
  const given = pod.status?.qosClass as QosClass | undefined;
  if (given && QOS.includes(given)) return given;
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req = (c.resources?.requests ?? {}) as Record<string, unknown>;
    const lim = (c.resources?.limits ?? {}) as Record<string, unknown>;
    if (Object.keys(req).length + Object.keys(lim).length > 0) any = true;
    for (const r of ["cpu", "memory"]) {
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r])))
        guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

/** Turns a pod as the API server serves it into the agent's PodFacts. */
export function toPodFacts(pod: V1Pod, node: string): PodFacts {
  const meta = pod.metadata ?? {};
  const spec = pod.spec ?? { containers: [] };
  const status = pod.status ?? {};
  const initSpecs = spec.initContainers ?? [];
  const regularSpecs = spec.containers ?? [];
  const initStatus = new Map((status.initContainerStatuses ?? []).map((s) => [s.name, s]));
  const regularStatus = new Map((status.containerStatuses ?? []).map((s) => [s.name, s]));
  const containers: ContainerFacts[] = [
    ...initSpecs.map((c) =>
      containerFacts(c, initStatus.get(c.name), c.restartPolicy === "Always" ? "sidecar" : "init"),
    ),
    ...regularSpecs.map((c) => containerFacts(c, regularStatus.get(c.name), "regular")),
  ];
  const qosClass = qosOf(pod, [...initSpecs, ...regularSpecs]);
  const uid = meta.uid ?? "";
  const namespace = meta.namespace ?? "";
  const name = meta.name ?? "";
  const nodeName = spec.nodeName || node;
  const ref: PodRef = {
    uid,
    namespace,
    name,
    node: nodeName,
    labels: { ...(meta.labels ?? {}) },
    owners: (meta.ownerReferences ?? []).map((o) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.name,
      uid: o.uid,
      controller: o.controller ?? false,
    })),
    qosClass,
  };
  const condition = (type: string) => (status.conditions ?? []).find((c) => c.type === type);
  const at = (type: string) => {
    const c = condition(type);
    return c?.status === "True" ? toMs(c.lastTransitionTime as Time) : undefined;
  };
  const facts: PodFacts = {
    uid,
    qosClass,
    ref,
    containers,
    namespace,
    name,
    node: nodeName,
    phase: status.phase ?? "Pending",
    reason: status.reason ?? "",
    message: status.message ?? "",
    annotations: { ...(meta.annotations ?? {}) },
    createdAtMs: toMs(meta.creationTimestamp as Time) ?? 0,
    deletingSinceMs: toMs(meta.deletionTimestamp as Time),
    resourceVersion: meta.resourceVersion ?? "",
    conditions: {
      ready: condition("Ready")?.status === "True",
      scheduledAtMs: at("PodScheduled"),
      sandboxReadyAtMs: at("PodReadyToStartContainers"),
      initializedAtMs: at("Initialized"),
      containersReadyAtMs: at("ContainersReady"),
      readyAtMs: at("Ready"),
      readyChangedAtMs: toMs(condition("Ready")?.lastTransitionTime as Time),
    },
  };
  return facts satisfies PodView;
}
