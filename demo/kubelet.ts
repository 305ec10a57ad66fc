// The kubelet's part in the demo: pod statuses shaped the way the kubelet writes them,
// applied with the real `kubectl patch --subresource=status`.
import type { DemoPod } from "./workloads.ts";

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

export function scheduledStatus(at: number) {
  return {
    status: {
      phase: "Pending",
      conditions: [
        { type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: iso(at) },
      ],
    },
  };
}

/** The status once the kubelet has run the pod; `containerId` is the runtime's id. */
export function runningStatus(pod: DemoPod, containerId: string, startedAt: number, now: number) {
  const condition = (type: string, status: string, at: number) => ({
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: iso(at),
  });
  const base = {
    name: pod.container,
    image: `registry.example/${pod.name.split("-")[0]}:1.4.2`,
    imageID: `registry.example/${pod.name.split("-")[0]}@sha256:${"0".repeat(64)}`,
    containerID: `containerd://${containerId}`,
  };
  const scheduled = condition("PodScheduled", "True", startedAt - 900);
  const initialized = condition("Initialized", "True", startedAt - 400);
  if (pod.role === "crash-loop") {
    return {
      status: {
        phase: "Running",
        conditions: [
          condition("PodReadyToStartContainers", "True", startedAt - 300),
          initialized,
          condition("Ready", "False", startedAt),
          condition("ContainersReady", "False", startedAt),
          scheduled,
        ],
        containerStatuses: [
          {
            ...base,
            ready: false,
            started: false,
            restartCount: 4,
            state: {
              waiting: {
                reason: "CrashLoopBackOff",
                message: `back-off 1m20s restarting failed container=${pod.container} pod=${pod.name}_${pod.namespace}(${pod.uid})`,
              },
            },
            lastState: {
              terminated: {
                exitCode: 1,
                reason: "Error",
                message: "panic: dial tcp 10.0.12.7:5432: connect: connection refused",
                startedAt: iso(now - 2_000),
                finishedAt: iso(now - 1_000),
                containerID: `containerd://${containerId}`,
              },
            },
          },
        ],
      },
    };
  }
  const ready = [
    condition("PodReadyToStartContainers", "True", startedAt - 300),
    initialized,
    condition("Ready", "True", startedAt + 700),
    condition("ContainersReady", "True", startedAt + 700),
    scheduled,
  ];
  if (pod.role === "oom-killed") {
    return {
      status: {
        phase: "Running",
        conditions: ready,
        containerStatuses: [
          {
            ...base,
            ready: true,
            started: true,
            restartCount: 1,
            state: { running: { startedAt: iso(now - 500) } },
            lastState: {
              terminated: {
                exitCode: 137,
                reason: "OOMKilled",
                startedAt: iso(startedAt),
                finishedAt: iso(now - 1_000),
                containerID: `containerd://${"f".repeat(64)}`,
              },
            },
          },
        ],
      },
    };
  }
  return {
    status: {
      phase: "Running",
      conditions: ready,
      containerStatuses: [
        {
          ...base,
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: iso(startedAt) } },
          lastState: {},
        },
      ],
    },
  };
}
