// The GETs enrichment may make: a ReplicaSet's or a Job's owners, a namespace's labels.
// On demand only: the aggregator runs no cluster-wide ReplicaSet or pod informer.
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1OwnerReference,
} from "@kubernetes/client-node";
import { DEFAULT_REQUEST_TIMEOUT_MS, statusOf, timeoutOptions } from "../../shared/kube.ts";
import type { PodSource } from "./pods.ts";

export interface OwnerLink {
  kind: string;
  name: string;
  controller: boolean;
}

export interface LookupSource {
  /** Owners of a ReplicaSet or Job; undefined when it does not exist. Throws on other errors. */
  owners(kind: "ReplicaSet" | "Job", namespace: string, name: string): Promise<OwnerLink[] | undefined>;
  /** Labels of a namespace; undefined when it does not exist. */
  namespaceLabels(namespace: string): Promise<Record<string, string> | undefined>;
}

const links = (refs: V1OwnerReference[] | undefined): OwnerLink[] =>
  (refs ?? []).map((r) => ({ kind: r.kind, name: r.name, controller: r.controller === true }));

async function orUndefined<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

export function kubeLookupSource(
  kubeConfig: KubeConfig,
  timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): LookupSource {
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const timeout = timeoutOptions(timeoutMs);
  return {
    async owners(kind, namespace, name) {
      const obj = await orUndefined<{ metadata?: { ownerReferences?: V1OwnerReference[] } }>(() =>
        kind === "ReplicaSet"
          ? apps.readNamespacedReplicaSet({ namespace, name }, timeout)
          : batch.readNamespacedJob({ namespace, name }, timeout),
      );
      return obj ? links(obj.metadata?.ownerReferences) : undefined;
    },
    async namespaceLabels(namespace) {
      const ns = await orUndefined(() => core.readNamespace({ name: namespace }, timeout));
      return ns ? (ns.metadata?.labels ?? {}) : undefined;
    },
  };
}

/** Reads a pod for node binding (enrich/pods.ts): GET, 404 → undefined. */
export function kubePodSource(kubeConfig: KubeConfig, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): PodSource {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const timeout = timeoutOptions(timeoutMs);
  return {
    async pod(namespace, name) {
      const pod = await orUndefined(() => core.readNamespacedPod({ namespace, name }, timeout));
      if (!pod) return undefined;
      return {
        uid: pod.metadata?.uid ?? "",
        namespace,
        name,
        node: pod.spec?.nodeName ?? "",
        labels: pod.metadata?.labels ?? {},
        owners: (pod.metadata?.ownerReferences ?? []).map((o) => ({
          apiVersion: o.apiVersion,
          kind: o.kind,
          name: o.name,
          uid: o.uid,
          controller: o.controller === true,
        })),
        qosClass: pod.status?.qosClass ?? "",
      };
    },
  };
}
