// The agent's thin Kubernetes client against the local API server over real TLS: a kubeconfig
// and an in-cluster service-account directory both authenticate and verify the server's
// certificate; refusals and failures name the request (method, URL, status, the server's
// message); what it cannot do (exec plugins) and where it cannot go (no cluster, no
// kubeconfig) is said at once.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1PodList } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type KubeApi, startKubeApi } from "../test/kube-api/index.ts";
import { KubeApiError } from "./kube-api-error.ts";
import { inClusterEndpoint, kubeconfigEndpoint, loadKubeEndpoint } from "./kube-endpoint.ts";
import { KubeHttp } from "./kube-http.ts";

let api: KubeApi;
let tmp: string;
const clients: KubeHttp[] = [];
const client = (endpoint: ConstructorParameters<typeof KubeHttp>[0]): KubeHttp => {
  const c = new KubeHttp(endpoint);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  api = await startKubeApi();
  tmp = mkdtempSync(join(tmpdir(), "kg-kube-http-"));
});
afterAll(async () => {
  for (const c of clients) c.close();
  await api?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const pod = (name: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default" },
  spec: { nodeName: "node-h", containers: [{ name: "c", image: "busybox" }] },
});

describe("KubeHttp", () => {
  it("lists and watches with a kubeconfig's token and CA, resuming from the list's resourceVersion", async () => {
    const kube = client(kubeconfigEndpoint(api.kubeconfigPath));
    const list = await kube.get<V1PodList>("/api/v1/pods", { fieldSelector: "spec.nodeName=node-h" });
    expect(list.items).toEqual([]);
    expect(list.metadata?.resourceVersion).toMatch(/^\d+$/);
    const events: { type: string; name: string | undefined }[] = [];
    const controller = await kube.watch(
      "/api/v1/pods",
      { fieldSelector: "spec.nodeName=node-h", resourceVersion: list.metadata?.resourceVersion ?? "" },
      (type, object) =>
        events.push({ type, name: (object as { metadata?: { name?: string } }).metadata?.name }),
      () => {},
    );
    try {
      await createPod("web-1");
      await vi.waitFor(() => expect(events).toContainEqual({ type: "ADDED", name: "web-1" }), {
        timeout: 10_000,
        interval: 20,
      });
    } finally {
      controller.abort();
    }
  });

  it("authenticates in a pod from the service-account directory (token re-read, CA verified)", async () => {
    const dir = join(tmp, "serviceaccount");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "ca.crt"), api.caCert ?? "");
    writeFileSync(join(dir, "token"), "expired-or-wrong\n");
    const url = new URL(api.url);
    const kube = client(
      inClusterEndpoint(dir, { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port }),
    );
    const refused = await kube.get("/api/v1/namespaces").catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(KubeApiError);
    expect((refused as KubeApiError).code).toBe(401);
    expect((refused as Error).message).toContain(`GET ${api.url}/api/v1/namespaces: 401`);
    // A rotated token is picked up on the next request.
    writeFileSync(join(dir, "token"), `${api.adminToken}\n`);
    const namespaces = await kube.get<{ items: unknown[] }>("/api/v1/namespaces");
    expect(namespaces.items.length).toBeGreaterThan(0);
  });

  it("refuses a server whose certificate the CA does not sign, naming the request", async () => {
    const other = join(tmp, "kubeconfig-no-ca");
    const url = api.url;
    writeFileSync(
      other,
      `apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters: [{name: c, cluster: {server: "${url}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n`,
    );
    const err = await client(kubeconfigEndpoint(other))
      .get("/api/v1/pods")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).code).toBeUndefined();
    expect((err as Error).message).toMatch(new RegExp(`^GET ${url}/api/v1/pods: .*certificate`));
  });

  it("says a watch the server refuses with its status and message", async () => {
    const kube = client(kubeconfigEndpoint(api.kubeconfigPath));
    const done = await new Promise<unknown>((resolve) => {
      void kube.watch("/api/v1/pods", { labelSelector: "a in (" }, () => {}, resolve);
    });
    expect(done).toBeInstanceOf(KubeApiError);
    expect((done as KubeApiError).code).toBe(400);
    expect((done as Error).message).toMatch(/^GET .*\/api\/v1\/pods\?labelSelector=.*watch=true: 400 /);
  });

  it("refuses exec plugins and says what to do outside a cluster without a kubeconfig", () => {
    const exec = join(tmp, "kubeconfig-exec");
    writeFileSync(
      exec,
      "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters: [{name: c, cluster: {server: https://127.0.0.1:1}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n",
    );
    expect(() => kubeconfigEndpoint(exec)).toThrow(/exec plugin or auth provider.*use a token/);
    expect(() => loadKubeEndpoint(join(tmp, "missing"))).toThrow(
      /cannot read kubeconfig .*missing.*--kubeconfig/,
    );
    expect(() => inClusterEndpoint(tmp, {}).server()).toThrow(/not running in a pod.*--kubeconfig/);
  });
});

/** Creates a pod through the API server as its admin (POST, JSON, the server's CA). */
async function createPod(name: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const req = request(
      `${api.url}/api/v1/namespaces/default/pods`,
      {
        method: "POST",
        ca: api.caCert,
        headers: { authorization: `Bearer ${api.adminToken}`, "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 201 ? resolve() : reject(new Error(`create pod ${name}: ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(pod(name)));
  });
}
