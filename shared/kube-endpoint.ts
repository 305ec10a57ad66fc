// Where the API server is and how to authenticate to it, for the thin client
// (shared/kube-http.ts): the in-cluster service account, or a kubeconfig file's current
// context. Credentials are read per request where they can rotate (projected tokens).
import { readFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { describeError } from "./kube-api-error.ts";

/** What a request needs besides the path: the server, TLS material and headers. */
export interface KubeEndpoint {
  /** https://host:port (or http:// for a local test server). */
  server(): string;
  /** Fills TLS options (ca, cert, key, rejectUnauthorized) and headers (Authorization) of one request. */
  apply(options: RequestOptions & { headers: Record<string, string> }): Promise<void> | void;
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Credentials from a kubeconfig file when given, else the in-cluster service account. */
export function loadKubeEndpoint(kubeconfigPath: string | undefined): KubeEndpoint {
  return kubeconfigPath ? kubeconfigEndpoint(kubeconfigPath) : inClusterEndpoint();
}

/** The pod's service account: token (re-read per request: projected tokens rotate) and CA. */
export function inClusterEndpoint(dir = SERVICE_ACCOUNT, env = process.env): KubeEndpoint {
  return {
    server() {
      const host = env.KUBERNETES_SERVICE_HOST;
      const port = env.KUBERNETES_SERVICE_PORT;
      if (!host || !port)
        throw new Error(
          "no API server: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not running in a pod) and no --kubeconfig was given; pass --kubeconfig (or KUBECONFIG) outside a cluster",
        );
      return `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
    },
    apply(options) {
      options.ca = readCredential(`${dir}/ca.crt`, "the service-account CA");
      options.headers.Authorization = `Bearer ${readCredential(`${dir}/token`, "the service-account token").trim()}`;
    },
  };
}

interface KubeconfigFile {
  "current-context"?: string;
  clusters?: { name?: string; cluster?: Record<string, unknown> }[];
  users?: { name?: string; user?: Record<string, unknown> }[];
  contexts?: { name?: string; context?: { cluster?: string; user?: string } }[];
}

/**
 * A kubeconfig's current context: server, CA (file or data), insecure-skip-tls-verify,
 * tls-server-name; user token, tokenFile, client certificate and key (file or data), basic
 * auth. Exec plugins and auth providers are refused with a message: the agent runs on a
 * service account; a kubeconfig is for development and tests.
 */
export function kubeconfigEndpoint(path: string): KubeEndpoint {
  let doc: KubeconfigFile;
  try {
    doc = (parseYaml(readFileSync(path, "utf8")) ?? {}) as KubeconfigFile;
  } catch (err) {
    throw new Error(
      `cannot read kubeconfig ${path}: ${describeError(err)}; check --kubeconfig (KUBECONFIG)`,
      {
        cause: err,
      },
    );
  }
  const where = `kubeconfig ${path}`;
  const contextName = doc["current-context"];
  const context = doc.contexts?.find((c) => c.name === contextName)?.context;
  if (!context)
    throw new Error(`${where}: current-context ${JSON.stringify(contextName)} is not among its contexts`);
  const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== "string")
    throw new Error(`${where}: cluster ${JSON.stringify(context.cluster)} is missing or has no server`);
  const user = doc.users?.find((u) => u.name === context.user)?.user ?? {};
  if (user.exec || user["auth-provider"])
    throw new Error(
      `${where}: user ${JSON.stringify(context.user)} authenticates through an exec plugin or auth provider, which kernel-gossip does not run; use a token, a token file or a client certificate`,
    );
  const base = dirname(resolve(path));
  const material = (dataKey: string, fileKey: string, what: string): Buffer | undefined => {
    const source = { ...cluster, ...user };
    const data = source[dataKey];
    if (typeof data === "string") return Buffer.from(data, "base64");
    const file = source[fileKey];
    if (typeof file === "string")
      return Buffer.from(readCredential(resolve(base, file), `${what} of ${where}`));
    return undefined;
  };
  const server = cluster.server;
  const ca = material("certificate-authority-data", "certificate-authority", "the CA");
  const cert = material("client-certificate-data", "client-certificate", "the client certificate");
  const key = material("client-key-data", "client-key", "the client key");
  const insecure = cluster["insecure-skip-tls-verify"] === true;
  const serverName = typeof cluster["tls-server-name"] === "string" ? cluster["tls-server-name"] : undefined;
  return {
    server: () => server,
    apply(options) {
      if (ca) options.ca = ca;
      if (cert) options.cert = cert;
      if (key) options.key = key;
      if (insecure) options.rejectUnauthorized = false;
      if (serverName) options.servername = serverName;
      if (typeof user.token === "string") options.headers.Authorization = `Bearer ${user.token}`;
      else if (typeof user.tokenFile === "string")
        options.headers.Authorization = `Bearer ${readCredential(resolve(base, user.tokenFile), `the token file of ${where}`).trim()}`;
      else if (typeof user.username === "string")
        options.headers.Authorization = `Basic ${Buffer.from(`${user.username}:${String(user.password ?? "")}`).toString("base64")}`;
    },
  };
}

function readCredential(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${what} (${file}): ${describeError(err)}`, { cause: err });
  }
}
