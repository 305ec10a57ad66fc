// Pod statuses shaped the way the kubelet writes them (raw JSON as served by a watch:
// RFC 3339 second-precision timestamps, `containerd://<64 hex>` ids, the kubelet's own
// reason and message strings). Used by the detector table and the API-server tests, which
// PATCH these exact objects into /status with kubectl.
//
// Shapes checked against the kubelet (pkg/kubelet/kubelet_pods.go convertToAPIContainerStatuses,
// pkg/kubelet/kuberuntime/kuberuntime_container.go):
//  - restartCount comes from the runtime's per-instance annotation: while a container waits
//    in CrashLoopBackOff, restartCount is that of the dead instance shown in lastState; the
//    restarted instance has restartCount + 1 and the dead one stays in lastState;
//  - the back-off message is `back-off <Go duration> restarting failed container=<c> pod=<name>_<ns>(<uid>)`
//    ("Back-off …" before Kubernetes 1.24);
//  - a container the kubelet lost track of is `terminated{reason: ContainerStatusUnknown, exitCode: 137}`;
//  - an eviction is pod-level: phase Failed, reason Evicted, "The node was low on resource: …",
//    with a DisruptionTarget condition (reason TerminationByKubelet) since 1.26.
import { createHash } from "node:crypto";

export type Json = Record<string, unknown>;

/** RFC 3339 at second precision, as the API server serialises metav1.Time. */
export const rfc3339 = (ms: number): string =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

export const containerId = (seed: string): string =>
  `containerd://${createHash("sha256").update(seed).digest("hex")}`;

export const running = (startedAtMs: number): Json => ({ running: { startedAt: rfc3339(startedAtMs) } });

export const waiting = (reason: string, message?: string): Json => ({
  waiting: message === undefined ? { reason } : { reason, message },
});

export function terminated(
  reason: string,
  exitCode: number,
  startedAtMs: number,
  finishedAtMs: number,
  id: string,
  message?: string,
): Json {
  return {
    terminated: {
      exitCode,
      reason,
      ...(message ? { message } : {}),
      startedAt: rfc3339(startedAtMs),
      finishedAt: rfc3339(finishedAtMs),
      containerID: id,
    },
  };
}

export interface ContainerStatusInit {
  name: string;
  image?: string;
  state: Json;
  lastState?: Json;
  restartCount: number;
  ready?: boolean;
  started?: boolean;
  /** Current instance; omitted while waiting for the first instance. */
  id?: string;
}

export function containerStatus(c: ContainerStatusInit): Json {
  const image = c.image ?? "registry.example/shop/app:1.4.2";
  return {
    name: c.name,
    state: c.state,
    lastState: c.lastState ?? {},
    ready: c.ready ?? false,
    restartCount: c.restartCount,
    image,
    imageID: c.id ? `${image.split(":")[0]}@sha256:${"ab".repeat(32)}` : "",
    ...(c.id ? { containerID: c.id } : {}),
    started: c.started ?? false,
  };
}

export interface PodStatusInit {
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  createdAtMs: number;
  scheduledAtMs: number;
  initializedAtMs?: number;
  readyAtMs?: number;
  /** Transition time of the not-ready conditions. */
  changedAtMs?: number;
  initContainerStatuses?: Json[];
  containerStatuses?: Json[];
  reason?: string;
  message?: string;
  extraConditions?: Json[];
}

/** A whole `status` object as the kubelet reports it. */
export function podStatus(s: PodStatusInit): Json {
  const changed = rfc3339(s.changedAtMs ?? s.scheduledAtMs);
  const cond = (type: string, atMs: number | undefined, reason?: string) =>
    atMs === undefined
      ? {
          type,
          status: "False",
          lastProbeTime: null,
          lastTransitionTime: changed,
          ...(reason ? { reason } : {}),
        }
      : { type, status: "True", lastProbeTime: null, lastTransitionTime: rfc3339(atMs) };
  return {
    phase: s.phase,
    ...(s.reason ? { reason: s.reason } : {}),
    ...(s.message ? { message: s.message } : {}),
    conditions: [
      ...(s.extraConditions ?? []),
      cond("PodReadyToStartContainers", s.scheduledAtMs + 1_000),
      cond("Initialized", s.initializedAtMs, "ContainersNotInitialized"),
      cond("Ready", s.readyAtMs, "ContainersNotReady"),
      cond("ContainersReady", s.readyAtMs, "ContainersNotReady"),
      cond("PodScheduled", s.scheduledAtMs),
    ],
    hostIP: "10.0.3.17",
    hostIPs: [{ ip: "10.0.3.17" }],
    podIP: "10.244.3.41",
    podIPs: [{ ip: "10.244.3.41" }],
    startTime: rfc3339(s.scheduledAtMs),
    qosClass: "Burstable",
    ...(s.initContainerStatuses ? { initContainerStatuses: s.initContainerStatuses } : {}),
    containerStatuses: s.containerStatuses ?? [],
  };
}
