// Kubernetes client configuration, shared by both roles: a kubeconfig file when given
// (development, tests, the demo), else the in-cluster service-account config.
import { KubeConfig } from "@kubernetes/client-node";

export function loadKubeConfig(kubeconfigPath: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromCluster();
  return kc;
}

/** HTTP status of an error thrown by client-node's typed API (ApiException), if any. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === "number") return code;
  }
  return undefined;
}
