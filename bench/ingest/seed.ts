// The cluster the ingest case's agent reports about, in the local API server: namespaces with
// their project label, Deployments, their ReplicaSets and the pods themselves, bound to the
// agent's node — so node binding (--verify-pods, on by default) and enrichment find real
// objects, as in production. Returns the pod refs the agent sends: the API server's uids,
// labels and owners (the agent's pod watch reads the same pods).
import type { PodRef } from "../../shared/proto.ts";
import type { BenchKube } from "../cluster/kube.ts";
import { type MixPod, mixPods } from "../events/mix.ts";

/** Labels the pods do not carry, so enrichment resolves owners and namespaces through its cache. */
const RESOLVED_BY_LOOKUP = ["workload-id", "project-id"];

interface Created {
  metadata: { uid: string };
}

/** The mix's pods created in the cluster; the map goes from the mix's made-up uid to the ref an agent sends. */
export async function seedCluster(
  kube: BenchKube,
  options: { seed: number; pods: number; node: string },
): Promise<Map<string, PodRef>> {
  const pods = mixPods(options);
  for (const ns of new Set(pods.map((p) => p.ref.namespace ?? ""))) {
    await kube.request("POST", "/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { "project-id": `proj-${ns}` } },
    });
  }
  const deployments = new Map<string, Created>();
  const replicaSets = new Map<string, Created>();
  const refs = new Map<string, PodRef>();
  for (const pod of pods) {
    const owner = pod.ref.owners?.[0];
    if (!owner?.name) throw new Error(`bench mix pod ${pod.ref.name} has no owner`);
    const ns = pod.ref.namespace ?? "";
    const labels = podLabels(pod);
    // The Deployment first: the API server's garbage collector removes a ReplicaSet whose owner does not exist.
    let deployment = deployments.get(`${ns}/${pod.workload}`);
    if (!deployment) {
      deployment = (await kube.request("POST", `/apis/apps/v1/namespaces/${ns}/deployments`, {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: pod.workload, namespace: ns, labels: { app: pod.workload } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: pod.workload } },
          template: { metadata: { labels: { app: pod.workload } }, spec: CONTAINERS },
        },
      })) as Created;
      deployments.set(`${ns}/${pod.workload}`, deployment);
    }
    let replicaSet = replicaSets.get(`${ns}/${owner.name}`);
    if (!replicaSet) {
      const selector = { app: pod.workload, "pod-template-hash": labels["pod-template-hash"] ?? "" };
      replicaSet = (await kube.request("POST", `/apis/apps/v1/namespaces/${ns}/replicasets`, {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: {
          name: owner.name,
          namespace: ns,
          labels: selector,
          ownerReferences: [
            {
              apiVersion: "apps/v1",
              kind: "Deployment",
              name: pod.workload,
              uid: deployment.metadata.uid,
              controller: true,
            },
          ],
        },
        spec: {
          replicas: 1,
          selector: { matchLabels: selector },
          template: { metadata: { labels: selector }, spec: CONTAINERS },
        },
      })) as Created;
      replicaSets.set(`${ns}/${owner.name}`, replicaSet);
    }
    const owners = [
      {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        name: owner.name,
        uid: replicaSet.metadata.uid,
        controller: true,
      },
    ];
    const created = (await kube.request("POST", `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pod.ref.name, namespace: ns, labels, ownerReferences: owners },
      spec: {
        nodeName: options.node,
        containers: pod.containers.map((name) => ({ name, image: "registry.example/app:1" })),
      },
    })) as Created & { status?: { qosClass?: string } };
    refs.set(pod.ref.uid ?? "", {
      uid: created.metadata.uid,
      namespace: ns,
      name: pod.ref.name,
      node: options.node,
      labels,
      owners,
      qosClass: created.status?.qosClass ?? pod.ref.qosClass,
    });
  }
  return refs;
}

const CONTAINERS = { containers: [{ name: "app", image: "registry.example/app:1" }] };

function podLabels(pod: MixPod): Record<string, string> {
  const labels = { ...(pod.ref.labels ?? {}) };
  for (const k of RESOLVED_BY_LOOKUP) delete labels[k];
  return labels;
}
