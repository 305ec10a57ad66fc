/** Writes a kubeconfig (token auth) usable by kubectl and @kubernetes/client-node. */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { stringify } from "yaml";

export function kubeconfigYaml(server: string, token: string, caPem?: string, namespace = "default"): string {
  const cluster: Record<string, string> = { server };
  if (caPem) cluster["certificate-authority-data"] = Buffer.from(caPem).toString("base64");
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "kube-api", cluster }],
    users: [{ name: "kube-api-admin", user: { token } }],
    contexts: [{ name: "kube-api", context: { cluster: "kube-api", user: "kube-api-admin", namespace } }],
    "current-context": "kube-api",
    preferences: {},
  });
}

export async function writeKubeconfig(
  path: string,
  server: string,
  token: string,
  caPem?: string,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, kubeconfigYaml(server, token, caPem), { mode: 0o600 });
}
