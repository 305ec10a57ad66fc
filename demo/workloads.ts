// The demo's cluster: a namespace with a project label, owner chains the way the
// controllers would have created them (the local API server runs no controllers), and
// pods on node demo-node. Each pod has a part to play; `role` says which.

import type { KubeConfig } from "@kubernetes/client-node";
import { type KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";

export type Role = "healthy" | "crash-loop" | "oom-killed" | "throttled" | "kernel-oom";

export interface DemoPod {
  namespace: string;
  name: string;
  uid: string;
  /** metadata.creationTimestamp (whole seconds, as the API server stamps it), ms since the epoch */
  createdMs: number;
  container: string;
  role: Role;
  qos: "Guaranteed" | "Burstable" | "BestEffort";
  workload: string;
}

const NODE = "demo-node";

const owner = (o: KubernetesObject) => ({
  apiVersion: o.apiVersion ?? "",
  kind: o.kind ?? "",
  name: o.metadata?.name ?? "",
  uid: o.metadata?.uid ?? "",
  controller: true,
  blockOwnerDeletion: true,
});

const podSpec = (container: string, image: string, limits: Record<string, string>) => ({
  nodeName: NODE,
  containers: [
    {
      name: container,
      image,
      resources: { requests: { cpu: "100m", memory: "64Mi" }, limits },
    },
  ],
});

const template = (
  labels: Record<string, string>,
  container: string,
  image: string,
  limits: Record<string, string>,
) => ({
  metadata: { labels },
  spec: { containers: podSpec(container, image, limits).containers },
});

export async function createWorkloads(kubeConfig: KubeConfig): Promise<DemoPod[]> {
  const api = KubernetesObjectApi.makeApiClient(kubeConfig);
  const create = async (o: KubernetesObject): Promise<KubernetesObject> => api.create(o);
  await create({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "shop", labels: { "project-id": "webshop" } },
  });
  await create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "reports" } });

  const pods: DemoPod[] = [];
  const pod = async (
    ns: string,
    name: string,
    labels: Record<string, string>,
    parent: KubernetesObject | undefined,
    container: string,
    limits: Record<string, string>,
    role: Role,
    workload: string,
  ) => {
    const created = await create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: ns, labels, ...(parent && { ownerReferences: [owner(parent)] }) },
      spec: podSpec(container, `registry.example/${name.split("-")[0]}:1.4.2`, limits),
    } as KubernetesObject);
    const status = (created as { status?: { qosClass?: DemoPod["qos"] } }).status;
    pods.push({
      namespace: ns,
      name,
      uid: created.metadata?.uid ?? "",
      createdMs: new Date(created.metadata?.creationTimestamp ?? 0).getTime(),
      container,
      role,
      qos: status?.qosClass ?? "Burstable",
      workload,
    });
  };

  // Deployment → ReplicaSet → Pod, three times.
  for (const [app, container, role, limits] of [
    ["web", "nginx", "healthy", { cpu: "500m", memory: "128Mi" }],
    ["checkout", "app", "throttled", { cpu: "500m", memory: "256Mi" }],
    ["cart", "api", "crash-loop", { cpu: "250m", memory: "128Mi" }],
  ] as const) {
    const labels = { app };
    const deploy = await create({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: app, namespace: "shop", labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: template(labels, container, `registry.example/${app}:1.4.2`, limits),
      },
    } as KubernetesObject);
    const hash = { web: "5d8f9c7b4d", checkout: "6c9d7f8b5", cart: "7f4b9c6d8" }[app];
    const rs = await create({
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: { name: `${app}-${hash}`, namespace: "shop", labels, ownerReferences: [owner(deploy)] },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: template(labels, container, `registry.example/${app}:1.4.2`, limits),
      },
    } as KubernetesObject);
    await pod("shop", `${app}-${hash}-x7k2p`, labels, rs, container, limits, role, `Deployment/${app}`);
  }

  // CronJob → Job → Pod: the nightly report that runs out of memory.
  const cronLabels = { app: "nightly-report" };
  const cron = await create({
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: "nightly-report", namespace: "reports" },
    spec: {
      schedule: "0 2 * * *",
      jobTemplate: {
        spec: {
          template: {
            spec: {
              restartPolicy: "OnFailure",
              containers: [{ name: "worker", image: "registry.example/report:2.0" }],
            },
          },
        },
      },
    },
  } as KubernetesObject);
  const job = await create({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: "nightly-report-29391840",
      namespace: "reports",
      labels: cronLabels,
      ownerReferences: [owner(cron)],
    },
    spec: {
      template: {
        metadata: { labels: cronLabels },
        spec: {
          restartPolicy: "OnFailure",
          containers: [{ name: "worker", image: "registry.example/report:2.0" }],
        },
      },
    },
  } as KubernetesObject);
  await pod(
    "reports",
    "nightly-report-29391840-q8w4n",
    cronLabels,
    job,
    "worker",
    { cpu: "1", memory: "256Mi" },
    "oom-killed",
    "CronJob/nightly-report",
  );

  // StatefulSet → Pod: an indexer whose child processes the kernel OOM-kills.
  const stsLabels = { app: "search" };
  const sts = await create({
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "search", namespace: "shop", labels: stsLabels },
    spec: {
      serviceName: "search",
      replicas: 1,
      selector: { matchLabels: stsLabels },
      template: template(stsLabels, "indexer", "registry.example/search:3.1", { cpu: "1", memory: "512Mi" }),
    },
  } as KubernetesObject);
  await pod(
    "shop",
    "search-0",
    stsLabels,
    sts,
    "indexer",
    { cpu: "1", memory: "512Mi" },
    "kernel-oom",
    "StatefulSet/search",
  );
  return pods;
}
