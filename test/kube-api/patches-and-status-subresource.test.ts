/**
 * Patch types and the status subresource like kube-apiserver: merge, JSON and
 * strategic merge patches (containers merged by name, conditions by type),
 * writes to the main resource ignore status and writes to /status ignore
 * everything else, generation moves only with spec, CR schemas prune unknown
 * fields and apply defaults, Table output honours includeObject.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { call, kubectl } from "./testing.ts";

const POD = "/api/v1/namespaces/default/pods/p";
const KW = "/apis/kernel.gossip.io/v1alpha1/namespaces/default/kernelwhispers";
const TABLE =
  "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

describe("patches and the status subresource", () => {
  let api: KubeApi;
  beforeAll(async () => {
    api = await startKubeApi();
    await call(api, "POST", "/api/v1/namespaces/default/pods", {
      body: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "p" },
        spec: {
          containers: [
            { name: "a", image: "busybox:1" },
            { name: "b", image: "busybox:1" },
          ],
        },
      },
    });
    await kubectl(api, ["apply", "-f", join(import.meta.dirname, "fixtures", "kernelwhisper-crd.yaml")]);
  });
  afterAll(() => api.close());

  it("strategic merge patch merges containers by name and status conditions by type", async () => {
    const r = await call(api, "PATCH", POD, {
      body: { spec: { containers: [{ name: "b", image: "busybox:2" }] } },
      contentType: "application/strategic-merge-patch+json",
    });
    expect(r.status).toBe(200);
    expect(
      r.json.spec.containers.map((c: { name: string; image: string }) => `${c.name}=${c.image}`),
    ).toEqual(["a=busybox:1", "b=busybox:2"]);
    const smp = "application/strategic-merge-patch+json";
    await call(api, "PATCH", `${POD}/status`, {
      body: { status: { conditions: [{ type: "Ready", status: "False" }] } },
      contentType: smp,
    });
    const s = await call(api, "PATCH", `${POD}/status`, {
      body: { status: { conditions: [{ type: "PodScheduled", status: "True" }] } },
      contentType: smp,
    });
    expect(s.json.status.conditions).toEqual([
      { type: "Ready", status: "False" },
      { type: "PodScheduled", status: "True" },
    ]);
  });

  it("JSON patch applies operations, and a failed test op is 422", async () => {
    const r = await call(api, "PATCH", POD, {
      body: [{ op: "add", path: "/metadata/labels", value: { app: "x" } }],
      contentType: "application/json-patch+json",
    });
    expect(r.json.metadata.labels).toEqual({ app: "x" });
    const bad = await call(api, "PATCH", POD, {
      body: [{ op: "test", path: "/metadata/labels/app", value: "y" }],
      contentType: "application/json-patch+json",
    });
    expect(bad.status).toBe(422);
  });

  it("the main resource ignores status; /status ignores everything else", async () => {
    const main = await call(api, "PATCH", POD, {
      body: { status: { phase: "Failed" } },
      contentType: "application/merge-patch+json",
    });
    expect(main.json.status.phase).toBe("Pending");
    const st = await call(api, "PATCH", `${POD}/status`, {
      body: { metadata: { labels: { app: "ignored" } }, status: { phase: "Running" } },
      contentType: "application/merge-patch+json",
    });
    expect(st.json.status.phase).toBe("Running");
    expect(st.json.metadata.labels).toEqual({ app: "x" });
  });

  it("custom resources: generation moves with spec only; unknown fields pruned; status dropped on create", async () => {
    const c = await call(api, "POST", KW, {
      body: {
        apiVersion: "kernel.gossip.io/v1alpha1",
        kind: "KernelWhisper",
        metadata: { name: "g" },
        spec: { workload: "w", container: "c", signal: "OOMKilled", extra: 1 },
        status: { severity: "info" },
      },
    });
    expect(c.status).toBe(201);
    expect(c.headers.warning).toContain('unknown field \\"spec.extra\\"');
    expect(c.json.spec.extra).toBeUndefined();
    expect(c.json.status).toBeUndefined();
    expect(c.json.metadata.generation).toBe(1);
    const merge = "application/merge-patch+json";
    const s = await call(api, "PATCH", `${KW}/g/status`, {
      body: { status: { severity: "warning", count: 2 } },
      contentType: merge,
    });
    expect(s.json.metadata.generation).toBe(1);
    const sp = await call(api, "PATCH", `${KW}/g`, {
      body: { spec: { container: "d" } },
      contentType: merge,
    });
    expect(sp.json.metadata.generation).toBe(2);
    expect(sp.json.status.severity).toBe("warning");
    const invalid = await call(api, "PATCH", `${KW}/g/status`, {
      body: { status: { count: -1 } },
      contentType: merge,
    });
    expect(invalid.status).toBe(422);
    expect(invalid.json.details.causes[0]).toMatchObject({
      field: "status.count",
      message: "Invalid value: -1: status.count in body should be greater than or equal to 0",
    });
    const smp = await call(api, "PATCH", `${KW}/g`, {
      body: {},
      contentType: "application/strategic-merge-patch+json",
    });
    expect(smp.status).toBe(415);
  });

  it("Table responses carry the row object as requested by includeObject", async () => {
    const meta = await call(api, "GET", KW, { accept: TABLE });
    expect(meta.json.kind).toBe("Table");
    expect(meta.json.columnDefinitions[0]).toMatchObject({ name: "Name", type: "string", format: "name" });
    expect(meta.json.rows[0].object).toMatchObject({
      kind: "PartialObjectMetadata",
      apiVersion: "meta.k8s.io/v1",
    });
    const obj = await call(api, "GET", `${KW}?includeObject=Object`, { accept: TABLE });
    expect(obj.json.rows[0].object.spec.workload).toBe("w");
    const none = await call(api, "GET", `${KW}?includeObject=None`, { accept: TABLE });
    expect(none.json.rows[0].object).toBeUndefined();
  });

  it("list items of built-in kinds carry no kind/apiVersion; custom resources do", async () => {
    const pods = await call(api, "GET", "/api/v1/pods");
    expect(pods.json).toMatchObject({ kind: "PodList", apiVersion: "v1" });
    expect(pods.json.items[0].kind).toBeUndefined();
    const kws = await call(api, "GET", KW);
    expect(kws.json.items[0]).toMatchObject({
      kind: "KernelWhisper",
      apiVersion: "kernel.gossip.io/v1alpha1",
    });
  });
});
