/**
 * @kubernetes/client-node's ListWatch (what the agent's pod watch is built on)
 * against the local server: a field-selected list+watch, a forced 410 that
 * makes it relist by itself, a dropped watch (error; the supervisor restarts
 * it) and a gracefully closed one (it reconnects by itself).
 */
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { call } from "./testing.ts";

function pod(name: string, node: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { app: "w" } },
    spec: { nodeName: node, containers: [{ name: "c", image: "busybox:1.36" }] },
  };
}

describe("client-node ListWatch with a field selector", () => {
  let api: KubeApi;
  let informer: k8s.ListWatch<k8s.V1Pod>;
  const seen: string[] = [];
  const errors: unknown[] = [];
  const names = () =>
    informer
      .list()
      .map((p) => p.metadata?.name)
      .sort();

  beforeAll(async () => {
    api = await startKubeApi();
    await call(api, "POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "n" } },
    });
    await call(api, "POST", "/api/v1/namespaces/n/pods", { body: pod("a1", "node-a") });
    await call(api, "POST", "/api/v1/namespaces/n/pods", { body: pod("b1", "node-b") });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const selector = "spec.nodeName=node-a";
    informer = new k8s.ListWatch<k8s.V1Pod>(
      "/api/v1/pods",
      new k8s.Watch(kc),
      () => core.listPodForAllNamespaces({ fieldSelector: selector }),
      false,
      undefined,
      selector,
    );
    informer.on("add", (p) => seen.push(`add ${p.metadata?.name}`));
    informer.on("update", (p) => seen.push(`update ${p.metadata?.name} ${p.status?.phase}`));
    informer.on("delete", (p) => seen.push(`delete ${p.metadata?.name}`));
    informer.on("error", (e) => errors.push(e));
    await informer.start();
  });
  afterAll(async () => {
    await informer.stop();
    await api.close();
  });

  it("lists and watches only the pods of its node", async () => {
    expect(names()).toEqual(["a1"]);
    await call(api, "POST", "/api/v1/namespaces/n/pods", { body: pod("a2", "node-a") });
    await call(api, "POST", "/api/v1/namespaces/n/pods", { body: pod("b2", "node-b") });
    await call(api, "PATCH", "/api/v1/namespaces/n/pods/a1/status", {
      body: { status: { phase: "Running" } },
      contentType: "application/merge-patch+json",
    });
    await expect.poll(() => seen.includes("update a1 Running")).toBe(true);
    expect(names()).toEqual(["a1", "a2"]);
    expect(seen).not.toContain("add b2");
  });

  it("relists after a 410 Gone on its watch", async () => {
    const lists = api.counters.get("list", "pods");
    api.faults.expireResourceVersions();
    await expect.poll(() => api.counters.get("list", "pods") === lists + 1).toBe(true);
    await call(api, "POST", "/api/v1/namespaces/n/pods", { body: pod("a3", "node-a") });
    await expect.poll(() => names().includes("a3")).toBe(true);
    expect(errors).toEqual([]);
  });

  it("reconnects by itself after a graceful close, from its last resourceVersion", async () => {
    const watches = api.counters.get("watch", "pods");
    api.faults.dropWatches({ resource: "pods", graceful: true });
    await expect.poll(() => api.counters.get("watch", "pods") === watches + 1).toBe(true);
    await call(api, "DELETE", "/api/v1/namespaces/n/pods/a2");
    await expect.poll(() => seen.includes("update a2 Pending")).toBe(true); // Terminating, bound to node-a
    expect(api.confirmPodDeletion("n", "a2")).toBe(true); // node-a's kubelet: containers stopped
    await expect.poll(() => seen.includes("delete a2")).toBe(true);
    expect(errors).toEqual([]);
  });

  it("reports a dropped connection as an error and recovers when restarted", async () => {
    api.faults.dropWatches({ resource: "pods" });
    await expect.poll(() => errors.length === 1).toBe(true);
    await call(api, "POST", "/api/v1/namespaces/n/pods", { body: pod("a4", "node-a") });
    await informer.start();
    await expect.poll(() => names().includes("a4")).toBe(true);
    expect(names()).toEqual(["a1", "a3", "a4"]);
  });
});
