// Pods for a bench node, created through the API like the kubelet and scheduler would
// leave them: Running and Ready, each container with a containerd id the cgroup fixture
// tree has a directory for.
import { createHash } from "node:crypto";
import type { BenchKube } from "./kube.ts";

export interface BenchContainer {
  name: string;
  /** 64 hex chars, as containerd reports it after "containerd://". */
  id: string;
  cpuLimitCores?: number;
  memoryLimitBytes?: number;
}

export interface BenchPod {
  namespace: string;
  /** Set by createPods: the ReplicaSet (owned by the workload's Deployment) that owns the pod. */
  owner?: { name: string; uid: string };
  name: string;
  uid: string;
  workload: string;
  qosClass: "Guaranteed" | "Burstable" | "BestEffort";
  containers: BenchContainer[];
}

const hex = (seed: string, n: number): string => createHash("sha256").update(seed).digest("hex").slice(0, n);

/**
 * `pods` pods spread over `containers` containers (1–3 per pod), of `workloads` Deployments
 * in `namespaces` namespaces; a mix of QoS classes like a busy node's.
 */
export function planPods(options: {
  node: string;
  pods: number;
  containers: number;
  workloads: number;
  namespaces: number;
  prefix?: string;
}): BenchPod[] {
  const { pods, containers } = options;
  if (containers < pods || containers > pods * 3)
    throw new Error("containers must be between pods and 3× pods");
  const extra = containers - pods; // pods with a second (then third) container
  const out: BenchPod[] = [];
  for (let i = 0; i < pods; i++) {
    const w = i % options.workloads;
    const workload = `${options.prefix ?? "svc"}-${w}`;
    const namespace = `bench-${w % options.namespaces}`;
    const seed = `${options.node}/${options.prefix ?? ""}/${i}`;
    const name = `${workload}-${hex(`${options.node}/${workload}/rs`, 10)}-${hex(seed, 5)}`;
    const count = 1 + (i < extra ? 1 : 0) + (i < extra - pods ? 1 : 0);
    const qosClass = i % 10 === 0 ? "BestEffort" : i % 3 === 0 ? "Guaranteed" : "Burstable";
    const names = ["app", "sidecar", "log-shipper"];
    out.push({
      namespace,
      name,
      uid: `${hex(`${seed}/uid`, 8)}-${hex(`${seed}/uid`, 12).slice(8, 12)}-4${hex(`${seed}/u2`, 3)}-a${hex(`${seed}/u3`, 3)}-${hex(`${seed}/u4`, 12)}`,
      workload,
      qosClass,
      containers: names.slice(0, count).map((c, k) =>
        qosClass === "BestEffort"
          ? { name: c, id: hex(`${seed}/${c}`, 64) }
          : {
              name: c,
              id: hex(`${seed}/${c}`, 64),
              cpuLimitCores: k === 0 ? 0.5 : 0.1,
              memoryLimitBytes: (k === 0 ? 256 : 64) * 1024 * 1024,
            },
      ),
    });
  }
  return out;
}

function podManifest(pod: BenchPod, node: string): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      labels: { app: pod.workload, "workload-id": pod.workload, "project-id": `proj-${pod.namespace}` },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: pod.owner?.name ?? pod.name.slice(0, pod.name.lastIndexOf("-")),
          uid: pod.owner?.uid ?? hex(`${pod.workload}/rs`, 32),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      nodeName: node,
      containers: pod.containers.map((c) => ({
        name: c.name,
        image: `registry.example/${pod.workload}/${c.name}:1.0`,
        resources:
          c.cpuLimitCores === undefined
            ? {}
            : {
                limits: { cpu: `${Math.round(c.cpuLimitCores * 1000)}m`, memory: String(c.memoryLimitBytes) },
                requests: {
                  cpu: `${Math.round(c.cpuLimitCores * 1000)}m`,
                  memory: String(c.memoryLimitBytes),
                },
              },
      })),
    },
  };
}

export function runningStatus(pod: BenchPod, startedAt: string, overrides: { restartCount?: number } = {}) {
  return {
    phase: "Running",
    qosClass: pod.qosClass,
    startTime: startedAt,
    conditions: ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map((type) => ({
      type,
      status: "True",
      lastTransitionTime: startedAt,
    })),
    containerStatuses: pod.containers.map((c) => ({
      name: c.name,
      ready: true,
      started: true,
      restartCount: overrides.restartCount ?? 0,
      image: `registry.example/${pod.workload}/${c.name}:1.0`,
      imageID: `registry.example/${pod.workload}/${c.name}@sha256:${hex(c.name, 64)}`,
      containerID: `containerd://${c.id}`,
      state: { running: { startedAt } },
    })),
  };
}

/** The status of a pod whose first container crash-loops (restartCount advanced). */
export function crashLoopStatus(pod: BenchPod, startedAt: string, restartCount: number) {
  const status = runningStatus(pod, startedAt);
  const first = status.containerStatuses[0];
  if (first) {
    Object.assign(first, {
      ready: false,
      started: false,
      restartCount,
      state: {
        waiting: {
          reason: "CrashLoopBackOff",
          message: `back-off 10s restarting failed container=${first.name}`,
        },
      },
      lastState: {
        terminated: {
          exitCode: 1,
          reason: "Error",
          startedAt,
          finishedAt: new Date().toISOString().slice(0, 19) + "Z",
          containerID: first.containerID,
        },
      },
    });
  }
  return status;
}

/** Creates the pods' namespaces and the pods, then sets their status (Running, Ready). */
export async function createPods(kube: BenchKube, node: string, pods: readonly BenchPod[]): Promise<void> {
  const namespaces = [...new Set(pods.map((p) => p.namespace))];
  for (const ns of namespaces) {
    try {
      await kube.request("POST", "/api/v1/namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: ns },
      });
    } catch (err) {
      if (!String(err).includes("409")) throw err;
    }
  }
  // Real owners (Deployment → ReplicaSet → Pod): the API server's garbage collector removes
  // pods whose owner does not exist, as Kubernetes does.
  const owners = new Map<string, { name: string; uid: string }>();
  for (const pod of pods) {
    const rsName = pod.name.slice(0, pod.name.lastIndexOf("-"));
    const key = `${pod.namespace}/${rsName}`;
    let owner = owners.get(key);
    if (!owner) {
      const labels = { app: pod.workload, "workload-id": pod.workload };
      const template = {
        metadata: { labels },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      };
      const deployment = (await kube
        .request("POST", `/apis/apps/v1/namespaces/${pod.namespace}/deployments`, {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: pod.workload, namespace: pod.namespace, labels },
          spec: { replicas: 1, selector: { matchLabels: labels }, template },
        })
        .catch((err: unknown) => {
          if (String(err).includes("409"))
            return kube.request(
              "GET",
              `/apis/apps/v1/namespaces/${pod.namespace}/deployments/${pod.workload}`,
            );
          throw err;
        })) as { metadata: { uid: string } };
      const rs = (await kube.request("POST", `/apis/apps/v1/namespaces/${pod.namespace}/replicasets`, {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: {
          name: rsName,
          namespace: pod.namespace,
          labels,
          ownerReferences: [
            {
              apiVersion: "apps/v1",
              kind: "Deployment",
              name: pod.workload,
              uid: deployment.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { replicas: 1, selector: { matchLabels: labels }, template },
      })) as { metadata: { uid: string } };
      owner = { name: rsName, uid: rs.metadata.uid };
      owners.set(key, owner);
    }
    pod.owner = owner;
  }
  const startedAt = `${new Date(Date.now() - 3_600_000).toISOString().slice(0, 19)}Z`;
  const one = async (pod: BenchPod) => {
    const created = (await kube.request(
      "POST",
      `/api/v1/namespaces/${pod.namespace}/pods`,
      podManifest(pod, node),
    )) as {
      metadata?: { uid?: string };
    };
    // The API server assigns the uid; the cgroup tree must use the one it chose.
    if (created.metadata?.uid) pod.uid = created.metadata.uid;
    await kube.request(
      "PATCH",
      `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/status`,
      { status: runningStatus(pod, startedAt) },
      "application/merge-patch+json",
    );
  };
  // A few at a time: fast, without turning pod creation into a load test of its own.
  for (let i = 0; i < pods.length; i += 16) await Promise.all(pods.slice(i, i + 16).map(one));
}
