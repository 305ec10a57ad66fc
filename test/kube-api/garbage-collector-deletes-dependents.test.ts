/**
 * The built-in garbage collector: deleting an owner deletes the objects whose
 * ownerReferences name its uid (background by default, foreground waits for
 * them, orphan keeps them without the reference); namespaces take their
 * content with them; finalizers hold deletion until removed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { call } from "./testing.ts";

const DEPLOY = "/apis/apps/v1/namespaces/gc/deployments";
const RS = "/apis/apps/v1/namespaces/gc/replicasets";
const PODS = "/api/v1/namespaces/gc/pods";

const template = {
  metadata: { labels: { app: "web" } },
  spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
};

async function chain(api: KubeApi, name: string): Promise<void> {
  const d = await call(api, "POST", DEPLOY, {
    body: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name },
      spec: { selector: { matchLabels: { app: "web" } }, template },
    },
  });
  const ref = (kind: string, o: { metadata: { name: string; uid: string } }, apiVersion = "apps/v1") => [
    {
      apiVersion,
      kind,
      name: o.metadata.name,
      uid: o.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
  const rs = await call(api, "POST", RS, {
    body: {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: { name: `${name}-rs`, ownerReferences: ref("Deployment", d.json) },
      spec: { selector: { matchLabels: { app: "web" } }, template },
    },
  });
  const p = await call(api, "POST", PODS, {
    body: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `${name}-pod`, ownerReferences: ref("ReplicaSet", rs.json) },
      spec: template.spec,
    },
  });
  expect(p.status).toBe(201);
}

describe("garbage collection", () => {
  let api: KubeApi;
  beforeAll(async () => {
    api = await startKubeApi();
    await call(api, "POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "gc" } },
    });
  });
  afterAll(() => api.close());

  it("background: deleting a Deployment deletes its ReplicaSet and then its Pod", async () => {
    await chain(api, "bg");
    expect((await call(api, "DELETE", `${DEPLOY}/bg`)).status).toBe(200);
    await expect
      .poll(
        () =>
          !api.store.get("apps", "replicasets", "gc", "bg-rs") && !api.store.get("", "pods", "gc", "bg-pod"),
      )
      .toBe(true);
  });

  it("foreground: the owner stays (with a deletionTimestamp) until its dependents are gone", async () => {
    await chain(api, "fg");
    const r = await call(api, "DELETE", `${DEPLOY}/fg`, { body: { propagationPolicy: "Foreground" } });
    expect(r.json.metadata.deletionTimestamp).toBeTruthy();
    expect(r.json.metadata.finalizers).toContain("foregroundDeletion");
    await expect.poll(() => !api.store.get("apps", "deployments", "gc", "fg")).toBe(true);
    expect(api.store.get("apps", "replicasets", "gc", "fg-rs")).toBeUndefined();
  });

  it("orphan: dependents survive without the owner reference", async () => {
    await chain(api, "or");
    await call(api, "DELETE", `${DEPLOY}/or?propagationPolicy=Orphan`);
    await expect.poll(() => !api.store.get("apps", "deployments", "gc", "or")).toBe(true);
    const rs = api.store.get("apps", "replicasets", "gc", "or-rs");
    expect(rs).toBeDefined();
    expect(rs?.metadata.ownerReferences).toBeUndefined();
  });

  it("collects an object created with an owner that does not exist", async () => {
    const r = await call(api, "POST", "/api/v1/namespaces/gc/configmaps", {
      body: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: "stray",
          ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "gone", uid: "no-such-uid" }],
        },
      },
    });
    expect(r.status).toBe(201);
    await expect.poll(() => !api.store.get("", "configmaps", "gc", "stray")).toBe(true);
  });

  it("finalizers hold an object until an update removes the last one", async () => {
    const path = "/api/v1/namespaces/gc/configmaps";
    await call(api, "POST", path, {
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "f", finalizers: ["x/y"] } },
    });
    const d = await call(api, "DELETE", `${path}/f`);
    expect(d.json.metadata.deletionTimestamp).toBeTruthy();
    expect(api.store.get("", "configmaps", "gc", "f")).toBeDefined();
    await call(api, "PATCH", `${path}/f`, {
      body: { metadata: { finalizers: null } },
      contentType: "application/merge-patch+json",
    });
    expect(api.store.get("", "configmaps", "gc", "f")).toBeUndefined();
  });

  it("deletecollection deletes what the selector matches", async () => {
    const path = "/api/v1/namespaces/gc/configmaps";
    for (const [name, tier] of [
      ["dc1", "a"],
      ["dc2", "a"],
      ["dc3", "b"],
    ] as const) {
      await call(api, "POST", path, {
        body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name, labels: { tier } } },
      });
    }
    const r = await call(api, "DELETE", `${path}?labelSelector=tier%3Da`);
    expect(r.status).toBe(200);
    expect(r.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(["dc1", "dc2"]);
    expect(api.store.list("", "configmaps", "gc").map((o) => o.metadata.name)).toContain("dc3");
    expect(api.store.get("", "configmaps", "gc", "dc1")).toBeUndefined();
  });

  it("deleting a namespace deletes what is in it", async () => {
    await call(api, "POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "doomed" } },
    });
    await call(api, "POST", "/api/v1/namespaces/doomed/configmaps", {
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } },
    });
    const d = await call(api, "DELETE", "/api/v1/namespaces/doomed");
    expect(d.json.status.phase).toBe("Terminating");
    await expect.poll(() => !api.store.get("", "namespaces", undefined, "doomed")).toBe(true);
    expect(api.store.list("", "configmaps", "doomed")).toEqual([]);
  });
});
