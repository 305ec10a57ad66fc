/**
 * Server-side apply as kube-apiserver does it: a field manager is required,
 * a second manager changing an owned field gets 409 Conflict naming the field
 * and the owner, force takes ownership, equal values are co-owned, and fields a
 * manager stops applying are removed. kubectl apply --server-side works.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { call, kubectl } from "./testing.ts";

const FIXTURES = join(import.meta.dirname, "fixtures");
const PATH = "/apis/kernel.gossip.io/v1alpha1/namespaces/ssa/kernelwhispers/w1";
const APPLY = "application/apply-patch+yaml";

function whisper(spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: "kernel.gossip.io/v1alpha1", kind: "KernelWhisper", metadata: { name: "w1" }, spec };
}

describe("server-side apply", () => {
  let api: KubeApi;
  beforeAll(async () => {
    api = await startKubeApi();
    await kubectl(api, ["apply", "-f", join(FIXTURES, "kernelwhisper-crd.yaml")]);
    await kubectl(api, ["create", "ns", "ssa"]);
  });
  afterAll(() => api.close());

  it("requires a fieldManager", async () => {
    const r = await call(api, "PATCH", PATH, { body: whisper({}), contentType: APPLY });
    expect(r.status).toBe(400);
    expect(r.json.reason).toBe("BadRequest");
  });

  it("creates, then conflicts with a second manager unless forced", async () => {
    const spec = { workload: "Deployment/web", container: "app", signal: "OOMKilled", pods: ["a"] };
    const created = await call(api, "PATCH", `${PATH}?fieldManager=aggregator`, {
      body: whisper(spec),
      contentType: APPLY,
    });
    expect(created.status).toBe(201);
    expect(created.json.metadata.managedFields).toEqual([
      expect.objectContaining({
        manager: "aggregator",
        operation: "Apply",
        fieldsType: "FieldsV1",
        fieldsV1: {
          "f:spec": { "f:container": {}, "f:pods": { 'v:"a"': {} }, "f:signal": {}, "f:workload": {} },
        },
      }),
    ]);

    const other = { ...spec, signal: "CrashLoopBackOff" };
    const c = await call(api, "PATCH", `${PATH}?fieldManager=intruder`, {
      body: whisper(other),
      contentType: APPLY,
    });
    expect(c.status).toBe(409);
    expect(c.json).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "Conflict",
      code: 409,
      message: 'Apply failed with 1 conflict: conflict with "aggregator": .spec.signal',
      details: {
        causes: [
          { reason: "FieldManagerConflict", message: 'conflict with "aggregator"', field: ".spec.signal" },
        ],
      },
    });

    const forced = await call(api, "PATCH", `${PATH}?fieldManager=intruder&force=true`, {
      body: whisper(other),
      contentType: APPLY,
    });
    expect(forced.status).toBe(200);
    expect(forced.json.spec.signal).toBe("CrashLoopBackOff");
    const owners = Object.fromEntries(
      forced.json.metadata.managedFields.map((m: { manager: string; fieldsV1: object }) => [
        m.manager,
        m.fieldsV1,
      ]),
    );
    expect(owners.aggregator["f:spec"]["f:signal"]).toBeUndefined();
    expect(owners.intruder["f:spec"]["f:signal"]).toEqual({});
    // same value: co-owned, no conflict
    expect(owners.aggregator["f:spec"]["f:workload"]).toEqual({});
    expect(owners.intruder["f:spec"]["f:workload"]).toEqual({});
  });

  it("an update (merge patch) by another manager conflicts with the next apply", async () => {
    const u = await call(api, "PATCH", `${PATH}?fieldManager=editor`, {
      body: { spec: { container: "sidecar" } },
      contentType: "application/merge-patch+json",
    });
    expect(u.status).toBe(200);
    const spec = { workload: "Deployment/web", container: "app", signal: "CrashLoopBackOff" };
    const c = await call(api, "PATCH", `${PATH}?fieldManager=intruder`, {
      body: whisper(spec),
      contentType: APPLY,
    });
    expect(c.status).toBe(409);
    expect(c.json.message).toMatch(
      /^Apply failed with 1 conflict: conflict with "editor" using kernel\.gossip\.io\/v1alpha1: \.spec\.container$/,
    );
  });

  it("removes fields the manager stopped applying when nobody else owns them", async () => {
    const spec = { workload: "Deployment/web", container: "sidecar", signal: "CrashLoopBackOff", note: "hi" };
    await call(api, "PATCH", `${PATH}?fieldManager=solo&force=true`, {
      body: whisper(spec),
      contentType: APPLY,
    });
    const { note: _, ...without } = spec;
    const r = await call(api, "PATCH", `${PATH}?fieldManager=solo`, {
      body: whisper(without),
      contentType: APPLY,
    });
    expect(r.status).toBe(200);
    expect(r.json.spec.note).toBeUndefined();
  });

  it("is a no-op (same resourceVersion) when nothing changes", async () => {
    const spec = { workload: "Deployment/web", container: "sidecar", signal: "CrashLoopBackOff" };
    const a = await call(api, "PATCH", `${PATH}?fieldManager=solo`, {
      body: whisper(spec),
      contentType: APPLY,
    });
    const b = await call(api, "PATCH", `${PATH}?fieldManager=solo`, {
      body: whisper(spec),
      contentType: APPLY,
    });
    expect(b.json.metadata.resourceVersion).toBe(a.json.metadata.resourceVersion);
  });

  it("works through kubectl apply --server-side and --force-conflicts", async () => {
    const doc = (signal: string) =>
      [
        "apiVersion: kernel.gossip.io/v1alpha1",
        "kind: KernelWhisper",
        "metadata: {name: w2, namespace: ssa}",
        `spec: {workload: Deployment/api, container: app, signal: ${signal}}`,
      ].join("\n");
    const first = await kubectl(api, ["apply", "--server-side", "-f", "-"], doc("OOMKilled"));
    expect(first.stdout).toBe("kernelwhisper.kernel.gossip.io/w2 serverside-applied\n");
    const clash = await kubectl(
      api,
      ["apply", "--server-side", "--field-manager=other", "-f", "-"],
      doc("CPUThrottling"),
    );
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toContain('Apply failed with 1 conflict: conflict with "kubectl": .spec.signal');
    const forced = await kubectl(
      api,
      ["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-"],
      doc("CPUThrottling"),
    );
    expect(forced.stdout).toBe("kernelwhisper.kernel.gossip.io/w2 serverside-applied\n");
    expect(api.store.get("kernel.gossip.io", "kernelwhispers", "ssa", "w2")?.spec.signal).toBe(
      "CPUThrottling",
    );
  });

  it("applies pods with containers merged by name", async () => {
    const pod = (image: string, extra: Record<string, unknown> = {}) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p1", labels: { app: "web" } },
      spec: { containers: [{ name: "app", image, ...extra }] },
    });
    const path = "/api/v1/namespaces/ssa/pods/p1";
    expect(
      (await call(api, "PATCH", `${path}?fieldManager=a`, { body: pod("nginx:1"), contentType: APPLY }))
        .status,
    ).toBe(201);
    const c = await call(api, "PATCH", `${path}?fieldManager=b`, {
      body: pod("nginx:2"),
      contentType: APPLY,
    });
    expect(c.status).toBe(409);
    expect(c.json.details.causes[0].field).toBe('.spec.containers[name="app"].image');
  });
});
