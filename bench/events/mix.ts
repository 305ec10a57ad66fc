// A realistic, deterministic mix of the events an agent sends: mostly throttle samples
// (every open signal updates each window), then container failures, pod births and the
// odd kernel OOM — each with the pod identity the agent really attaches (uid, namespace,
// name, node, ~7 labels, one controller owner, QoS class).
import {
  Actor,
  ContainerKind,
  OomSource,
  type PodRef,
  ThrottleState,
  type WireEvent,
} from "../../shared/proto.ts";

/** Share of each event type in the mix (sums to 1). */
export const MIX = { throttle: 0.7, failure: 0.2, birth: 0.08, oom: 0.02 } as const;

/** Small seeded PRNG (mulberry32) so every run encodes the same bytes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (rand: () => number, n: number): string => {
  let s = "";
  for (let i = 0; i < n; i++) s += Math.floor(rand() * 16).toString(16);
  return s;
};
const uuid = (rand: () => number): string =>
  `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-a${hex(rand, 3)}-${hex(rand, 12)}`;
const suffix = (rand: () => number, n: number): string => {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
};

export interface MixOptions {
  seed?: number;
  node?: string;
  /** Distinct pods the events are about. */
  pods?: number;
  /** Distinct workloads the pods belong to. */
  workloads?: number;
  /** Namespace of workload w; defaults to one namespace per 4 workloads. */
  namespaceOf?: (w: number) => string;
  /** Share of each event type; defaults to MIX. */
  mix?: { throttle: number; failure: number; birth: number; oom: number };
}

export interface MixPod {
  ref: PodRef;
  workload: string;
  containers: string[];
}

/** Pods of `workloads` Deployments spread over the node(s), each with 1–3 containers. */
export function mixPods(options: MixOptions = {}): MixPod[] {
  const rand = prng(options.seed ?? 42);
  const node = options.node ?? "ip-10-0-12-34.eu-west-1.compute.internal";
  const workloads = options.workloads ?? 40;
  const count = options.pods ?? 110;
  const nsOf = options.namespaceOf ?? ((w: number) => `team-${Math.floor(w / 4)}`);
  const pods: MixPod[] = [];
  for (let i = 0; i < count; i++) {
    const w = i % workloads;
    const workload = `service-${w}`;
    const hash = `${hex(rand, 9)}`;
    const name = `${workload}-${hash}-${suffix(rand, 5)}`;
    const containers = ["app", "istio-proxy", "log-shipper"].slice(0, 1 + (i % 3));
    pods.push({
      workload,
      containers,
      ref: {
        uid: uuid(rand),
        namespace: nsOf(w),
        name,
        node,
        labels: {
          app: workload,
          "app.kubernetes.io/name": workload,
          "app.kubernetes.io/part-of": `product-${w % 7}`,
          "pod-template-hash": hash,
          "project-id": `proj-${w % 9}`,
          "workload-id": workload,
          "security.istio.io/tlsMode": "istio",
        },
        owners: [
          {
            apiVersion: "apps/v1",
            kind: "ReplicaSet",
            name: `${workload}-${hash}`,
            uid: uuid(rand),
            controller: true,
          },
        ],
        qosClass: i % 5 === 0 ? "Guaranteed" : "Burstable",
      },
    });
  }
  return pods;
}

/** `count` events over `pods`, in the proportions of MIX, observed around `nowMs`. */
export function mixEvents(count: number, options: MixOptions & { nowMs?: number } = {}): WireEvent[] {
  const rand = prng((options.seed ?? 42) + 1);
  const pods = mixPods(options);
  const now = options.nowMs ?? Date.UTC(2026, 10, 23, 12);
  const events: WireEvent[] = [];
  const restarts = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const pod = pods[Math.floor(rand() * pods.length)] as MixPod;
    const container = pod.containers[Math.floor(rand() * pod.containers.length)] as string;
    const observedAtMs = now + i * 7;
    const r = rand();
    const mix = options.mix ?? MIX;
    const base = { pod: pod.ref, container, observedAtMs, count: 1 };
    if (r < mix.throttle) {
      const ratio = 0.25 + rand() * 0.7;
      const limit = [0.25, 0.5, 1, 2][Math.floor(rand() * 4)] as number;
      const nrPeriods = 600 + Math.floor(rand() * 10);
      events.push({
        ...base,
        id: `${pod.ref.uid}/${container}/throttle/${observedAtMs}`,
        throttle: {
          state: rand() < 0.2 ? ThrottleState.THROTTLE_STATE_OPEN : ThrottleState.THROTTLE_STATE_UPDATE,
          throttledRatio: ratio,
          throttledSeconds: ratio * 60 * limit * 0.4,
          coresUsed: limit * (0.8 + rand() * 0.2),
          limitCores: limit,
          demandCores: limit * (1 + ratio),
          windowSeconds: 60,
          nrPeriods,
          nrThrottled: Math.floor(nrPeriods * ratio),
          pressureSomeAvg10: Math.round(rand() * 4000) / 100,
          demandSamples: Array.from({ length: 6 }, () => Math.round(limit * (1 + rand()) * 1000) / 1000),
          // What agents send since ADR 0012: the node's CPUs bound every estimate.
          nodeCpus: 8,
          demandMethod: "threads",
          limitedBy: "container",
        },
      });
    } else if (r < mix.throttle + mix.failure) {
      const key = `${pod.ref.uid}/${container}`;
      const restartCount = (restarts.get(key) ?? Math.floor(rand() * 20)) + 1;
      restarts.set(key, restartCount);
      const oom = rand() < 0.3;
      const reason = oom ? "OOMKilled" : "CrashLoopBackOff";
      events.push({
        ...base,
        id: `${pod.ref.uid}/${container}/${restartCount}/${reason}`,
        failure: {
          reason,
          exitCode: oom ? 137 : 1,
          signal: oom ? 9 : 0,
          message: oom ? "" : "back-off 5m0s restarting failed container",
          restartCount,
          startedAtMs: observedAtMs - 40_000,
          finishedAtMs: observedAtMs - 1_000,
          containerKind: ContainerKind.CONTAINER_KIND_REGULAR,
          memoryLimitBytes: oom ? 512 * 1024 * 1024 : 0,
          lastReason: oom ? "OOMKilled" : "Error",
          backoffSeconds: oom ? 0 : 300,
        },
      });
    } else if (r < mix.throttle + mix.failure + mix.birth) {
      const created = observedAtMs - 9_000;
      const steps = [
        { name: "created", actor: Actor.ACTOR_API_SERVER, atMs: created, durationMs: 0 },
        { name: "scheduled", actor: Actor.ACTOR_SCHEDULER, atMs: created + 40, durationMs: 40 },
        { name: "initialized", actor: Actor.ACTOR_KUBELET, atMs: created + 2_100, durationMs: 2_060 },
        ...pod.containers.map((c, k) => ({
          name: "started",
          actor: Actor.ACTOR_RUNTIME,
          atMs: created + 2_500 + k * 100,
          durationMs: 100,
          container: c,
        })),
        { name: "ready", actor: Actor.ACTOR_KUBELET, atMs: created + 9_000, durationMs: 6_300 },
      ];
      events.push({
        ...base,
        container: "",
        id: `${pod.ref.uid}/birth/${i}`,
        birth: {
          steps,
          totalMs: 9_000,
          ready: true,
          cpuSeconds: 3.2 + rand(),
          throttledPeriods: Math.floor(rand() * 40),
          memoryPeakBytes: 150_000_000 + Math.floor(rand() * 100_000_000),
          processCount: 12,
          createdAtMs: created,
        },
      });
    } else {
      events.push({
        ...base,
        id: `${pod.ref.uid}/${container}/oom/${observedAtMs}`,
        oom: {
          source: OomSource.OOM_SOURCE_KERNEL,
          kills: 1,
          memoryLimitBytes: 512 * 1024 * 1024,
          memoryPeakBytes: 512 * 1024 * 1024 - 4096,
          mainProcessSurvived: true,
        },
      });
    }
  }
  return events;
}
