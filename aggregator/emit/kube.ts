// The Kubernetes calls the writer makes, behind a small interface. Server-side apply with
// one field manager: client-node 2.x serialises patch bodies as JSON (valid YAML) and the
// Content-Type is set to application/apply-patch+yaml by a header middleware.
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { DEFAULT_REQUEST_TIMEOUT_MS, statusOf, timeoutOptions } from "../../shared/kube.ts";
import { GROUP, type KObj, VERSION } from "./whisper.ts";

export const FIELD_MANAGER = "kernel-gossip-aggregator";

export interface CrClient {
  /** The object, or undefined when it does not exist. */
  get(plural: string, namespace: string, name: string): Promise<KObj | undefined>;
  /** Server-side apply of metadata + spec; `created` when this request created the object (201). */
  apply(plural: string, body: KObj): Promise<{ object: KObj; created: boolean }>;
  /** Server-side apply to the status subresource (404 when the object does not exist). */
  applyStatus(plural: string, body: KObj): Promise<KObj>;
}

export function kubeCrClient(kubeConfig: KubeConfig, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): CrClient {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const timeout = timeoutOptions(timeoutMs);
  const ssa = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply, timeout);
  const target = (plural: string, body: KObj) => ({
    group: GROUP,
    version: VERSION,
    plural,
    namespace: String(body.metadata?.namespace),
    name: String(body.metadata?.name),
    body,
    fieldManager: FIELD_MANAGER,
    force: true,
  });
  return {
    async get(plural, namespace, name) {
      try {
        return (await api.getNamespacedCustomObject(
          { group: GROUP, version: VERSION, plural, namespace, name },
          timeout,
        )) as KObj;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async apply(plural, body) {
      const res = await api.patchNamespacedCustomObjectWithHttpInfo(target(plural, body), ssa);
      return { object: res.data as KObj, created: res.httpStatusCode === 201 };
    },
    async applyStatus(plural, body) {
      return (await api.patchNamespacedCustomObjectStatus(target(plural, body), ssa)) as KObj;
    },
  };
}
