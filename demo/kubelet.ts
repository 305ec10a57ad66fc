// The kubelet's part in the demo: pod statuses shaped the way the kubelet writes them,
// applied with the real `kubectl patch --subresource=status`.
//
// Every time in a status is the pod's creationTimestamp plus whole seconds, and has
// one-second resolution like the kubelet's (metav1.Time): the birth timelines the agent
// derives from them are the same on every run, on any machine, however loaded — which is
// what lets the README show the demo's real output and a test compare the two.
import { pause } from "./wait.ts";
import type { DemoPod } from "./workloads.ts";

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Seconds after creation at which each step happens (a readiness probe makes Ready last). */
export const TIMELINE = { scheduled: 1, sandboxReady: 1, initialized: 1, started: 2, ready: 4 } as const;

/** Seconds after creation when the status below is true, so when the kubelet may write it. */
export function reportedAfter(pod: DemoPod): number {
  return pod.role === "oom-killed" ? TIMELINE.started + 3 : TIMELINE.ready;
}

/** The status once the kubelet has run the pod; `containerId` is the runtime's id. */
export function kubeletStatus(pod: DemoPod, containerId: string, createdMs: number) {
  const at = (seconds: number): string => iso(createdMs + seconds * 1000);
  const condition = (type: string, status: string, seconds: number) => ({
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: at(seconds),
  });
  const base = {
    name: pod.container,
    image: `registry.example/${pod.name.split("-")[0]}:1.4.2`,
    imageID: `registry.example/${pod.name.split("-")[0]}@sha256:${"0".repeat(64)}`,
    containerID: `containerd://${containerId}`,
  };
  const started = [
    condition("PodScheduled", "True", TIMELINE.scheduled),
    condition("PodReadyToStartContainers", "True", TIMELINE.sandboxReady),
    condition("Initialized", "True", TIMELINE.initialized),
  ];
  if (pod.role === "crash-loop") {
    return {
      status: {
        phase: "Running",
        conditions: [
          ...started,
          condition("Ready", "False", TIMELINE.sandboxReady),
          condition("ContainersReady", "False", TIMELINE.sandboxReady),
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
                startedAt: at(TIMELINE.started),
                finishedAt: at(TIMELINE.started + 1),
                containerID: `containerd://${containerId}`,
              },
            },
          },
        ],
      },
    };
  }
  if (pod.role === "oom-killed") {
    // Killed a second after it started, restarted by the kubelet, then Ready.
    const restarted = TIMELINE.started + 2;
    return {
      status: {
        phase: "Running",
        conditions: [
          ...started,
          condition("Ready", "True", restarted + 1),
          condition("ContainersReady", "True", restarted + 1),
        ],
        containerStatuses: [
          {
            ...base,
            ready: true,
            started: true,
            restartCount: 1,
            state: { running: { startedAt: at(restarted) } },
            lastState: {
              terminated: {
                exitCode: 137,
                reason: "OOMKilled",
                startedAt: at(TIMELINE.started),
                finishedAt: at(TIMELINE.started + 1),
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
      conditions: [
        ...started,
        condition("Ready", "True", TIMELINE.ready),
        condition("ContainersReady", "True", TIMELINE.ready),
      ],
      containerStatuses: [
        {
          ...base,
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: at(TIMELINE.started) } },
          lastState: {},
        },
      ],
    },
  };
}

/** What the patch says, in a few words: the demo shows this instead of 1.4 KB of JSON. */
export function statusSummary(pod: DemoPod): string {
  switch (pod.role) {
    case "crash-loop":
      return "CrashLoopBackOff, restartCount 4, last exit code 1";
    case "oom-killed":
      return "Running, restartCount 1, last termination OOMKilled (exit 137)";
    default:
      return "Running and Ready";
  }
}

/**
 * Writes each pod's status with `kubectl patch --subresource=status`, in creation order, each
 * once what it says has happened: never ahead of the clock.
 */
export async function reportStatuses(
  pods: readonly DemoPod[],
  containerId: (pod: DemoPod) => string,
  kubectl: (args: string[], show?: boolean) => Promise<string>,
  say: (text: string) => void,
): Promise<void> {
  for (const p of pods) {
    const due = p.createdMs + reportedAfter(p) * 1000;
    if (Date.now() < due) await pause(due - Date.now());
    const status = kubeletStatus(p, containerId(p), p.createdMs);
    say(
      `$ kubectl patch pod ${p.name} -n ${p.namespace} --subresource=status --type=merge -p '<${statusSummary(p)}>'\n`,
    );
    await kubectl(
      [
        "patch",
        "pod",
        p.name,
        "-n",
        p.namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        JSON.stringify(status),
      ],
      false,
    );
  }
}
