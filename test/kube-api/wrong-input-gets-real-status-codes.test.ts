/**
 * Wrong input is answered with the status code, reason and wording of
 * kube-apiserver: 401, 404, 409 AlreadyExists / Conflict, 422 Invalid with
 * causes, 415 for an unsupported patch type, 400 for bad selectors, 410 for an
 * expired continue token.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { call } from "./testing.ts";

const cm = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, ...extra },
  data: { a: "1" },
});

describe("errors like kube-apiserver", () => {
  let api: KubeApi;
  beforeAll(async () => {
    api = await startKubeApi();
    await call(api, "POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "e" } },
    });
  });
  afterAll(() => api.close());

  it("401 Unauthorized for a missing or unknown token", async () => {
    for (const token of [null, "nope"]) {
      const r = await call(api, "GET", "/api/v1/pods", { token });
      expect(r.status).toBe(401);
      expect(r.json).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        code: 401,
      });
    }
  });

  it("404 NotFound for a missing object and a missing namespace", async () => {
    const r = await call(api, "GET", "/api/v1/namespaces/e/configmaps/none");
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({
      reason: "NotFound",
      message: 'configmaps "none" not found',
      details: { name: "none", kind: "configmaps" },
    });
    const ns = await call(api, "POST", "/api/v1/namespaces/ghost/configmaps", { body: cm("x") });
    expect(ns.status).toBe(404);
    expect(ns.json.message).toBe('namespaces "ghost" not found');
    const grp = await call(api, "GET", "/apis/apps/v1/namespaces/e/deployments/web");
    expect(grp.json.message).toBe('deployments.apps "web" not found');
  });

  it("409 AlreadyExists on a second create; generateName makes unique names", async () => {
    expect((await call(api, "POST", "/api/v1/namespaces/e/configmaps", { body: cm("dup") })).status).toBe(
      201,
    );
    const r = await call(api, "POST", "/api/v1/namespaces/e/configmaps", { body: cm("dup") });
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ reason: "AlreadyExists", message: 'configmaps "dup" already exists' });
    const g = await call(api, "POST", "/api/v1/namespaces/e/configmaps", {
      body: cm("", { name: undefined, generateName: "gen-" }),
    });
    expect(g.status).toBe(201);
    expect(g.json.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  it("a delete answers a Success Status (pods: the object)", async () => {
    const created = await call(api, "POST", "/api/v1/namespaces/e/configmaps", { body: cm("bye") });
    const r = await call(api, "DELETE", "/api/v1/namespaces/e/configmaps/bye");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name: "bye", kind: "configmaps", uid: created.json.metadata.uid },
    });
    const again = await call(api, "DELETE", "/api/v1/namespaces/e/configmaps/bye");
    expect(again.status).toBe(404);
  });

  it("409 Conflict on an update with a stale resourceVersion", async () => {
    const created = await call(api, "POST", "/api/v1/namespaces/e/configmaps", { body: cm("rv") });
    const stale = created.json;
    const fresh = await call(api, "PUT", "/api/v1/namespaces/e/configmaps/rv", {
      body: { ...stale, data: { a: "2" } },
    });
    expect(fresh.status).toBe(200);
    expect(Number(fresh.json.metadata.resourceVersion)).toBeGreaterThan(
      Number(stale.metadata.resourceVersion),
    );
    const r = await call(api, "PUT", "/api/v1/namespaces/e/configmaps/rv", {
      body: { ...stale, data: { a: "3" } },
    });
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({
      reason: "Conflict",
      message:
        'Operation cannot be fulfilled on configmaps "rv": the object has been modified; please apply your changes to the latest version and try again',
    });
  });

  it("409 Conflict on a delete whose resourceVersion precondition is stale; the current one deletes", async () => {
    const created = await call(api, "POST", "/api/v1/namespaces/e/configmaps", { body: cm("del-rv") });
    const stale = String(created.json.metadata.resourceVersion);
    const updated = await call(api, "PUT", "/api/v1/namespaces/e/configmaps/del-rv", {
      body: { ...created.json, data: { a: "2" } },
    });
    const precondition = (resourceVersion: string) => ({
      body: { kind: "DeleteOptions", apiVersion: "v1", preconditions: { resourceVersion } },
    });
    const r = await call(api, "DELETE", "/api/v1/namespaces/e/configmaps/del-rv", precondition(stale));
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ reason: "Conflict" });
    expect(r.json.message).toContain(`ResourceVersion in precondition: ${stale}`);
    const ok = await call(
      api,
      "DELETE",
      "/api/v1/namespaces/e/configmaps/del-rv",
      precondition(String(updated.json.metadata.resourceVersion)),
    );
    expect(ok.status).toBe(200);
  });

  it("422 Invalid for a ConfigMap over 1 MiB (data and binaryData together), on create and update", async () => {
    const big = "x".repeat(700_000);
    const tooBig = {
      ...cm("big"),
      data: { a: big },
      binaryData: { b: Buffer.alloc(400_000).toString("base64") },
    };
    const r = await call(api, "POST", "/api/v1/namespaces/e/configmaps", { body: tooBig });
    expect(r.status).toBe(422);
    expect(r.json).toMatchObject({
      reason: "Invalid",
      message: 'ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes',
      details: { causes: [{ reason: "FieldValueTooLong", field: "[]" }] },
    });
    const fits = await call(api, "POST", "/api/v1/namespaces/e/configmaps", {
      body: { ...cm("big"), data: { a: big } },
    });
    expect(fits.status).toBe(201);
    const grown = await call(api, "PUT", "/api/v1/namespaces/e/configmaps/big", {
      body: { ...fits.json, data: { a: big, c: big } },
    });
    expect(grown.status).toBe(422);
  });

  it("422 Invalid with causes for bad names and missing required fields", async () => {
    const r = await call(api, "POST", "/api/v1/namespaces/e/pods", {
      body: { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [{ name: "c" }] } },
    });
    expect(r.status).toBe(422);
    expect(r.json).toMatchObject({
      reason: "Invalid",
      message: 'Pod "p" is invalid: spec.containers[0].image: Required value',
      details: {
        name: "p",
        kind: "Pod",
        causes: [
          { reason: "FieldValueRequired", message: "Required value", field: "spec.containers[0].image" },
        ],
      },
    });
    const ns = await call(api, "POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "Bad_Name" } },
    });
    expect(ns.status).toBe(422);
    expect(ns.json.details.causes[0]).toMatchObject({ reason: "FieldValueInvalid", field: "metadata.name" });
    expect(ns.json.message).toContain(
      'Namespace "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 label',
    );
  });

  it("422 for an Event whose involvedObject is in another namespace, or a new-style Event without its reporter", async () => {
    const ev = (extra: Record<string, unknown>) => ({
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: "p.1" },
      involvedObject: { kind: "Pod", name: "p", namespace: "e" },
      reason: "OOMKilled",
      message: "m",
      type: "Warning",
      ...extra,
    });
    const other = await call(api, "POST", "/api/v1/namespaces/e/events", {
      body: ev({ involvedObject: { kind: "Pod", name: "p", namespace: "x" } }),
    });
    expect(other.status).toBe(422);
    expect(other.json.message).toBe(
      'Event "p.1" is invalid: involvedObject.namespace: Invalid value: "x": does not match event.namespace',
    );
    const micro = await call(api, "POST", "/api/v1/namespaces/e/events", {
      body: ev({ eventTime: "2024-01-01T00:00:00.000000Z" }),
    });
    expect(micro.status).toBe(422);
    expect(micro.json.details.causes.map((c: { field: string }) => c.field)).toEqual([
      "reportingComponent",
      "reportingInstance",
      "action",
    ]);
    const ok = await call(api, "POST", "/api/v1/namespaces/e/events", {
      body: ev({
        eventTime: "2024-01-01T00:00:00.000000Z",
        reportingComponent: "kernel-gossip",
        reportingInstance: "aggregator-0",
        action: "Observed",
      }),
    });
    expect(ok.status).toBe(201);
  });

  it("415 UnsupportedMediaType for strategic merge patch on a custom resource or an unknown patch type", async () => {
    const r = await call(api, "PATCH", "/api/v1/namespaces/e/configmaps/dup", {
      body: {},
      contentType: "application/x-nope",
    });
    expect(r.status).toBe(415);
    expect(r.json).toMatchObject({
      reason: "UnsupportedMediaType",
      message:
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml",
    });
  });

  it("400 BadRequest for an unparsable label selector or an unsupported field selector", async () => {
    const l = await call(api, "GET", `/api/v1/pods?labelSelector=${encodeURIComponent("app in (a")}`);
    expect(l.status).toBe(400);
    expect(l.json.reason).toBe("BadRequest");
    const f = await call(api, "GET", `/api/v1/pods?fieldSelector=${encodeURIComponent("spec.foo=x")}`);
    expect(f.status).toBe(400);
    expect(f.json).toMatchObject({ reason: "BadRequest", message: "field label not supported: spec.foo" });
    const cmField = await call(
      api,
      "GET",
      `/api/v1/configmaps?fieldSelector=${encodeURIComponent("spec.nodeName=x")}`,
    );
    expect(cmField.status).toBe(400);
  });

  it("selects with every label operator", async () => {
    const mk = (name: string, labels: Record<string, string>) =>
      call(api, "POST", "/api/v1/namespaces/e/configmaps", { body: cm(name, { labels }) });
    await mk("l1", { tier: "web", env: "prod" });
    await mk("l2", { tier: "db", env: "dev" });
    await mk("l3", { tier: "cache" });
    const names = async (sel: string) =>
      (
        await call(api, "GET", `/api/v1/namespaces/e/configmaps?labelSelector=${encodeURIComponent(sel)}`)
      ).json.items
        .map((i: { metadata: { name: string } }) => i.metadata.name)
        .filter((n: string) => n.startsWith("l"));
    expect(await names("tier=web")).toEqual(["l1"]);
    expect(await names("tier==db")).toEqual(["l2"]);
    expect(await names("tier!=web,tier")).toEqual(["l2", "l3"]);
    expect(await names("tier in (web, db)")).toEqual(["l1", "l2"]);
    expect(await names("tier notin (web),tier")).toEqual(["l2", "l3"]);
    expect(await names("env")).toEqual(["l1", "l2"]);
    expect(await names("!env,tier")).toEqual(["l3"]);
  });

  it("pages lists with limit/continue (not from the watch cache, resourceVersion=0) and answers 410 Expired for a continue token that is too old", async () => {
    const first = await call(api, "GET", "/api/v1/namespaces/e/configmaps?limit=2");
    expect(first.json.items).toHaveLength(2);
    expect(first.json.metadata.continue).toBeTruthy();
    expect(first.json.metadata.remainingItemCount).toBeGreaterThan(0);
    const second = await call(
      api,
      "GET",
      `/api/v1/namespaces/e/configmaps?limit=2&continue=${first.json.metadata.continue}`,
    );
    expect(second.json.items[0].metadata.name > first.json.items[1].metadata.name).toBe(true);
    const cached = await call(api, "GET", "/api/v1/namespaces/e/configmaps?limit=2&resourceVersion=0");
    expect(cached.json.items.length).toBeGreaterThan(2);
    expect(cached.json.metadata.continue).toBeUndefined();
    api.faults.expireResourceVersions();
    const expired = await call(
      api,
      "GET",
      `/api/v1/namespaces/e/configmaps?limit=2&continue=${first.json.metadata.continue}`,
    );
    expect(expired.status).toBe(410);
    expect(expired.json).toMatchObject({ reason: "Expired", code: 410 });
    expect(expired.json.message).toMatch(/^The provided continue parameter is too old/);
  });
});
