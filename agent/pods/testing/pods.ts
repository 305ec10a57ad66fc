// Whole V1Pod objects around the kubelet statuses, for tests that do not go through an
// API server.
import type { V1Pod } from "@kubernetes/client-node";
import type { Json } from "./kubelet.ts";
import { rfc3339 } from "./kubelet.ts";

export const NODE = "node-a";

export function podObject(
  name: string,
  spec: Json,
  status: Json | undefined,
  options: {
    uid?: string;
    createdAtMs?: number;
    namespace?: string;
    deletedAtMs?: number;
    annotations?: Record<string, string>;
  } = {},
): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: options.namespace ?? "shop",
      uid: options.uid ?? `uid-${name}`,
      resourceVersion: "1",
      labels: { app: name },
      annotations: options.annotations ?? {},
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: `${name}-7d9f`,
          uid: `rs-${name}`,
          controller: true,
        },
      ],
      ...(options.createdAtMs !== undefined ? { creationTimestamp: rfc3339(options.createdAtMs) } : {}),
      ...(options.deletedAtMs !== undefined ? { deletionTimestamp: rfc3339(options.deletedAtMs) } : {}),
    },
    spec: { nodeName: NODE, ...spec },
    ...(status ? { status } : {}),
  } as unknown as V1Pod;
}
