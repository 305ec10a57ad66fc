// The failure cases every detector change is checked against, each as the sequence of
// statuses the kubelet writes while it happens. `at` is the wall-clock time the sequence
// starts (tests with a manual clock pass its start; API-server tests pass Date.now()).
import {
  containerId,
  containerStatus,
  type Json,
  podStatus,
  running,
  terminated,
  waiting,
} from "./kubelet.ts";

export interface ExpectedFailure {
  container: string;
  reason: string;
  /** ContainerKind name. */
  kind: "regular" | "init" | "sidecar" | "pod";
  restartCount: number;
  exitCode?: number;
  signal?: number;
  lastReason?: string;
  backoffSeconds?: number;
  /** Index part of the deterministic id. */
  index: number;
}

export interface FailureCase {
  name: string;
  /** Pod manifest without namespace, nodeName or uid. */
  spec: Json;
  /** Statuses in the order the kubelet writes them. */
  statuses: Json[];
  /** Delete the pod after the last status. */
  deleteAfter?: boolean;
  /** Extra reasons the case needs switched on (besides CrashLoopBackOff, OOMKilled). */
  extraReasons: string[];
  /** Events the detector emits over the whole sequence, in order (before dedup). */
  expect: ExpectedFailure[];
  /** The pod's birth certificate: "ready", or the reason it failed to start. */
  birth: string;
}

const APP_IMAGE = "registry.example/shop/app:1.4.2";
const resources = { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "500m", memory: "128Mi" } };
const app = { name: "app", image: APP_IMAGE, resources };
const spec = (extra: Json = {}): Json => ({ restartPolicy: "Always", containers: [app], ...extra });
const backoff = (s: string, pod: string) =>
  `back-off ${s} restarting failed container=app pod=${pod}_shop(uid)`;
const S = 1_000;

export function failureCases(at: number): FailureCase[] {
  const base = { createdAtMs: at, scheduledAtMs: at + S };
  const idA = containerId(`${at}-a`);
  const idB = containerId(`${at}-b`);
  const idC = containerId(`${at}-c`);
  const runningApp = (rc: number, id: string, startedAt: number, lastState?: Json) =>
    containerStatus({
      name: "app",
      state: running(startedAt),
      lastState,
      restartCount: rc,
      ready: true,
      started: true,
      id,
    });
  const runningPod = (containerStatuses: Json[], readyAtMs?: number, initContainerStatuses?: Json[]) =>
    podStatus({
      ...base,
      phase: "Running",
      initializedAtMs: at + 2 * S,
      readyAtMs,
      containerStatuses,
      initContainerStatuses,
    });
  const oom = (id: string, start: number, end: number) => terminated("OOMKilled", 137, start, end, id);
  const error = (code: number, id: string, start: number, end: number) =>
    terminated("Error", code, start, end, id);

  return [
    {
      name: "crash loop",
      birth: "ready",
      spec: spec(),
      extraReasons: [],
      statuses: [
        runningPod([runningApp(0, idA, at + 3 * S)], at + 4 * S),
        runningPod([
          containerStatus({
            name: "app",
            state: error(1, idA, at + 3 * S, at + 9 * S),
            restartCount: 0,
            id: idA,
          }),
        ]),
        runningPod([
          containerStatus({
            name: "app",
            state: waiting("CrashLoopBackOff", backoff("10s", "crash")),
            lastState: error(1, idA, at + 3 * S, at + 9 * S),
            restartCount: 0,
            id: idA,
          }),
        ]),
        runningPod([runningApp(1, idB, at + 20 * S, error(1, idA, at + 3 * S, at + 9 * S))], at + 21 * S),
        runningPod([
          containerStatus({
            name: "app",
            state: waiting("CrashLoopBackOff", backoff("20s", "crash")),
            lastState: error(1, idB, at + 20 * S, at + 25 * S),
            restartCount: 1,
            id: idB,
          }),
        ]),
      ],
      expect: [
        {
          container: "app",
          reason: "CrashLoopBackOff",
          kind: "regular",
          restartCount: 0,
          index: 0,
          exitCode: 1,
          lastReason: "Error",
          backoffSeconds: 10,
        },
        {
          container: "app",
          reason: "CrashLoopBackOff",
          kind: "regular",
          restartCount: 1,
          index: 1,
          exitCode: 1,
          lastReason: "Error",
          backoffSeconds: 20,
        },
      ],
    },
    {
      name: "OOM in state",
      birth: "ready",
      spec: spec(),
      extraReasons: [],
      statuses: [
        runningPod([runningApp(0, idA, at + 3 * S)], at + 4 * S),
        runningPod([
          containerStatus({
            name: "app",
            state: oom(idA, at + 3 * S, at + 30 * S),
            restartCount: 0,
            id: idA,
          }),
        ]),
        runningPod([
          containerStatus({
            name: "app",
            state: waiting("CrashLoopBackOff", backoff("10s", "oom-state")),
            lastState: oom(idA, at + 3 * S, at + 30 * S),
            restartCount: 0,
            id: idA,
          }),
        ]),
        runningPod([runningApp(1, idB, at + 41 * S, oom(idA, at + 3 * S, at + 30 * S))], at + 42 * S),
      ],
      expect: [
        {
          container: "app",
          reason: "OOMKilled",
          kind: "regular",
          restartCount: 0,
          index: 0,
          exitCode: 137,
          signal: 9,
        },
        {
          container: "app",
          reason: "CrashLoopBackOff",
          kind: "regular",
          restartCount: 0,
          index: 0,
          exitCode: 137,
          lastReason: "OOMKilled",
          backoffSeconds: 10,
        },
      ],
    },
    {
      name: "OOM only in lastState after a fast restart",
      birth: "ready",
      spec: spec(),
      extraReasons: [],
      statuses: [
        runningPod([runningApp(0, idA, at + 3 * S)], at + 4 * S),
        runningPod([runningApp(1, idB, at + 31 * S, oom(idA, at + 3 * S, at + 30 * S))], at + 4 * S),
        // A later, unrelated update (a probe flips Ready) must not re-report it.
        runningPod([runningApp(1, idB, at + 31 * S, oom(idA, at + 3 * S, at + 30 * S))], at + 35 * S),
      ],
      expect: [
        {
          container: "app",
          reason: "OOMKilled",
          kind: "regular",
          restartCount: 1,
          index: 0,
          exitCode: 137,
          signal: 9,
        },
      ],
    },
    {
      name: "OOM of an init container",
      birth: "CrashLoopBackOff",
      spec: spec({ initContainers: [{ name: "migrate", image: APP_IMAGE, resources }] }),
      extraReasons: [],
      statuses: [
        podStatus({
          ...base,
          phase: "Pending",
          initContainerStatuses: [
            containerStatus({ name: "migrate", state: running(at + 3 * S), restartCount: 0, id: idA }),
          ],
          containerStatuses: [
            containerStatus({ name: "app", state: waiting("PodInitializing"), restartCount: 0 }),
          ],
        }),
        podStatus({
          ...base,
          phase: "Pending",
          initContainerStatuses: [
            containerStatus({
              name: "migrate",
              state: oom(idA, at + 3 * S, at + 12 * S),
              restartCount: 0,
              id: idA,
            }),
          ],
          containerStatuses: [
            containerStatus({ name: "app", state: waiting("PodInitializing"), restartCount: 0 }),
          ],
        }),
        podStatus({
          ...base,
          phase: "Pending",
          initContainerStatuses: [
            containerStatus({
              name: "migrate",
              state: waiting(
                "CrashLoopBackOff",
                backoff("10s", "oom-init").replace("container=app", "container=migrate"),
              ),
              lastState: oom(idA, at + 3 * S, at + 12 * S),
              restartCount: 0,
              id: idA,
            }),
          ],
          containerStatuses: [
            containerStatus({ name: "app", state: waiting("PodInitializing"), restartCount: 0 }),
          ],
        }),
        podStatus({
          ...base,
          phase: "Pending",
          initContainerStatuses: [
            containerStatus({
              name: "migrate",
              state: running(at + 23 * S),
              lastState: oom(idA, at + 3 * S, at + 12 * S),
              restartCount: 1,
              id: idB,
            }),
          ],
          containerStatuses: [
            containerStatus({ name: "app", state: waiting("PodInitializing"), restartCount: 0 }),
          ],
        }),
      ],
      expect: [
        { container: "migrate", reason: "OOMKilled", kind: "init", restartCount: 0, index: 0, exitCode: 137 },
        {
          container: "migrate",
          reason: "CrashLoopBackOff",
          kind: "init",
          restartCount: 0,
          index: 0,
          lastReason: "OOMKilled",
        },
      ],
    },
    {
      name: "native sidecar crash",
      birth: "ready",
      spec: spec({
        initContainers: [
          { name: "proxy", image: "registry.example/mesh/proxy:2.1", restartPolicy: "Always" },
        ],
      }),
      extraReasons: [],
      statuses: (() => {
        const appOk = runningApp(0, idC, at + 5 * S);
        const proxy = (state: Json, rc: number, id: string, lastState?: Json) =>
          containerStatus({
            name: "proxy",
            image: "registry.example/mesh/proxy:2.1",
            state,
            lastState,
            restartCount: rc,
            id,
            started: "running" in state,
            ready: "running" in state,
          });
        return [
          runningPod([appOk], at + 6 * S, [proxy(running(at + 3 * S), 0, idA)]),
          runningPod([appOk], undefined, [proxy(error(2, idA, at + 3 * S, at + 50 * S), 0, idA)]),
          runningPod([appOk], undefined, [
            proxy(
              waiting(
                "CrashLoopBackOff",
                backoff("10s", "sidecar").replace("container=app", "container=proxy"),
              ),
              0,
              idA,
              error(2, idA, at + 3 * S, at + 50 * S),
            ),
          ]),
          runningPod([appOk], at + 62 * S, [
            proxy(running(at + 61 * S), 1, idB, error(2, idA, at + 3 * S, at + 50 * S)),
          ]),
        ];
      })(),
      expect: [
        {
          container: "proxy",
          reason: "CrashLoopBackOff",
          kind: "sidecar",
          restartCount: 0,
          index: 0,
          exitCode: 2,
          lastReason: "Error",
        },
      ],
    },
    {
      name: "exit code 137 with reason Error is not an OOM",
      birth: "ready",
      spec: spec(),
      extraReasons: ["Error"],
      statuses: [
        runningPod([runningApp(0, idA, at + 3 * S)], at + 4 * S),
        runningPod([
          containerStatus({
            name: "app",
            state: error(137, idA, at + 3 * S, at + 15 * S),
            restartCount: 0,
            id: idA,
          }),
        ]),
        runningPod([runningApp(1, idB, at + 16 * S, error(137, idA, at + 3 * S, at + 15 * S))], at + 17 * S),
      ],
      expect: [
        {
          container: "app",
          reason: "Error",
          kind: "regular",
          restartCount: 0,
          index: 0,
          exitCode: 137,
          signal: 9,
        },
      ],
    },
    {
      name: "OOMKilled with exit code 0",
      birth: "ready",
      spec: spec(),
      extraReasons: [],
      statuses: [
        runningPod([runningApp(0, idA, at + 3 * S)], at + 4 * S),
        runningPod(
          [runningApp(1, idB, at + 21 * S, terminated("OOMKilled", 0, at + 3 * S, at + 20 * S, idA))],
          at + 22 * S,
        ),
      ],
      expect: [
        {
          container: "app",
          reason: "OOMKilled",
          kind: "regular",
          restartCount: 1,
          index: 0,
          exitCode: 0,
          signal: 0,
        },
      ],
    },
    {
      name: "image pull back-off",
      birth: "ImagePullBackOff",
      spec: spec({ containers: [{ ...app, image: "registry.example/shop/app:missing" }] }),
      extraReasons: ["ImagePullBackOff"],
      statuses: (() => {
        const pull = 'failed to pull and unpack image "registry.example/shop/app:missing": not found';
        const pod = (state: Json) =>
          podStatus({
            ...base,
            phase: "Pending",
            initializedAtMs: at + 2 * S,
            containerStatuses: [
              containerStatus({
                name: "app",
                image: "registry.example/shop/app:missing",
                state,
                restartCount: 0,
              }),
            ],
          });
        return [
          pod(waiting("ContainerCreating")),
          pod(waiting("ErrImagePull", pull)),
          pod(waiting("ImagePullBackOff", 'Back-off pulling image "registry.example/shop/app:missing"')),
          pod(waiting("ErrImagePull", pull)),
          pod(waiting("ImagePullBackOff", 'Back-off pulling image "registry.example/shop/app:missing"')),
        ];
      })(),
      expect: [{ container: "app", reason: "ImagePullBackOff", kind: "regular", restartCount: 0, index: 0 }],
    },
    {
      name: "eviction",
      birth: "ready",
      spec: spec(),
      extraReasons: ["Evicted", "Error"],
      statuses: [
        runningPod([runningApp(0, idA, at + 3 * S)], at + 4 * S),
        podStatus({
          ...base,
          phase: "Failed",
          reason: "Evicted",
          message:
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92Mi. Container app was using 1200Mi, request is 64Mi, has larger consumption of memory.",
          initializedAtMs: at + 2 * S,
          changedAtMs: at + 90 * S,
          extraConditions: [
            {
              type: "DisruptionTarget",
              status: "True",
              lastProbeTime: null,
              lastTransitionTime: new Date(at + 90_000).toISOString().replace(".000Z", "Z"),
              reason: "TerminationByKubelet",
              message: "The node was low on resource: memory.",
            },
          ],
          containerStatuses: [
            containerStatus({
              name: "app",
              state: error(137, idA, at + 3 * S, at + 91 * S),
              restartCount: 0,
              id: idA,
            }),
          ],
        }),
      ],
      expect: [{ container: "", reason: "Evicted", kind: "pod", restartCount: 0, index: 0 }],
    },
    {
      name: "pod deleted mid-crash-loop",
      birth: "ready",
      spec: spec(),
      extraReasons: ["Error"],
      deleteAfter: true,
      statuses: [
        runningPod([runningApp(0, idA, at + 3 * S)], at + 4 * S),
        runningPod([
          containerStatus({
            name: "app",
            state: error(1, idA, at + 3 * S, at + 9 * S),
            restartCount: 0,
            id: idA,
          }),
        ]),
        runningPod([
          containerStatus({
            name: "app",
            state: waiting("CrashLoopBackOff", backoff("10s", "deleted")),
            lastState: error(1, idA, at + 3 * S, at + 9 * S),
            restartCount: 0,
            id: idA,
          }),
        ]),
      ],
      expect: [
        { container: "app", reason: "Error", kind: "regular", restartCount: 0, index: 0, exitCode: 1 },
        {
          container: "app",
          reason: "CrashLoopBackOff",
          kind: "regular",
          restartCount: 0,
          index: 0,
          exitCode: 1,
          lastReason: "Error",
        },
      ],
    },
  ];
}
