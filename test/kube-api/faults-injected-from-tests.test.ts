/**
 * Fault injection, in-process and through /__control: the next N matching
 * requests fail with real Status bodies (429 with Retry-After, 500, 503, 409),
 * stalled watches, latency, outages, and request counters by verb and resource.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { call, watch } from "./testing.ts";

const CMS = "/api/v1/namespaces/default/configmaps";
const cm = (name: string) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name } });

describe("fault injection", () => {
  let api: KubeApi;
  beforeEach(async () => {
    api = await startKubeApi();
  });
  afterEach(() => api.close());

  it("fails the next N matching requests with 429 and Retry-After", async () => {
    api.faults.failNext({
      verb: "create",
      resource: "configmaps",
      name: /^x/,
      status: 429,
      count: 2,
      retryAfterSeconds: 7,
    });
    expect((await call(api, "POST", CMS, { body: cm("y") })).status).toBe(201);
    // a create is matched by the name in its body
    expect((await call(api, "POST", CMS, { body: cm("x1") })).status).toBe(429);
    expect((await call(api, "POST", CMS, { body: cm("x1") })).status).toBe(429);
    expect((await call(api, "POST", CMS, { body: cm("x1") })).status).toBe(201);
    api.faults.clear();
    api.faults.failNext({
      verb: "get",
      resource: "configmaps",
      name: /^y$/,
      status: 429,
      count: 1,
      retryAfterSeconds: 7,
    });
    const r = await call(api, "GET", `${CMS}/y`);
    expect(r.status).toBe(429);
    expect(r.headers["retry-after"]).toBe("7");
    expect(r.json).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "TooManyRequests",
      message: "Too many requests, please try again later.",
      details: { retryAfterSeconds: 7 },
      code: 429,
    });
    expect((await call(api, "GET", `${CMS}/y`)).status).toBe(200);
  });

  it("answers 500 InternalError, 503 ServiceUnavailable and 409 Conflict", async () => {
    api.faults.failNext({ verb: "list", status: 500, count: 1 });
    api.faults.failNext({ verb: "list", status: 503, count: 1 });
    api.faults.failNext({ verb: "patch", resource: "configmaps", status: 409, count: 1 });
    const a = await call(api, "GET", CMS);
    expect(a.json).toMatchObject({
      code: 500,
      reason: "InternalError",
      message: "Internal error occurred: injected fault",
    });
    const b = await call(api, "GET", CMS);
    expect(b.json).toMatchObject({ code: 503, reason: "ServiceUnavailable" });
    await call(api, "POST", CMS, { body: cm("c") });
    const c = await call(api, "PATCH", `${CMS}/c`, { body: {}, contentType: "application/merge-patch+json" });
    expect(c.json).toMatchObject({ code: 409, reason: "Conflict" });
  });

  it("an outage answers everything 503 for a while", async () => {
    api.faults.outage(150);
    expect((await call(api, "GET", "/api/v1/namespaces")).status).toBe(503);
    // ... and then serves again (a 60 s deadline for a 150 ms outage: only an outage that never ends fails)
    await expect
      .poll(async () => (await call(api, "GET", "/api/v1/namespaces")).status, { timeout: 60_000 })
      .toBe(200);
  });

  it("adds latency", async () => {
    api.faults.latency(120);
    const t = Date.now();
    await call(api, "GET", "/api/v1/namespaces");
    expect(Date.now() - t).toBeGreaterThanOrEqual(110);
  });

  it("stalls open watches: they stay open and deliver nothing", async () => {
    const w = watch(api, `${CMS}?watch=true&resourceVersion=${api.store.resourceVersion}`);
    expect(await w.status).toBe(200);
    expect(api.faults.stallWatches({ resource: "configmaps" })).toBe(1);
    await call(api, "POST", CMS, { body: cm("quiet") });
    await expect(w.next(200)).rejects.toThrow(/no watch event/);
    w.close();
  });

  it("drops open watches abruptly", async () => {
    const w = watch(api, `${CMS}?watch=true&resourceVersion=${api.store.resourceVersion}`);
    expect(await w.status).toBe(200);
    api.faults.dropWatches();
    expect(await w.ended).toBe("error");
  });

  it("counts requests by verb and resource", async () => {
    api.counters.reset();
    await call(api, "POST", CMS, { body: cm("n1") });
    await call(api, "PATCH", `${CMS}/n1`, {
      body: { data: { a: "b" } },
      contentType: "application/merge-patch+json",
    });
    await call(api, "PATCH", `${CMS}/n1`, {
      body: { data: { a: "c" } },
      contentType: "application/merge-patch+json",
    });
    expect(api.counters.get("create", "configmaps")).toBe(1);
    expect(api.counters.get("patch", "configmaps")).toBe(2);
    expect(api.counters.all()).toMatchObject({ "create configmaps": 1, "patch configmaps": 2 });
  });

  it("is controllable over HTTP at /__control for child processes", async () => {
    const r = await call(api, "POST", "/__control/failNext", {
      body: { verb: "get", resource: "namespaces", status: 503, count: 1 },
    });
    expect(r.status).toBe(200);
    expect((await call(api, "GET", "/api/v1/namespaces/default")).status).toBe(503);
    expect((await call(api, "GET", "/api/v1/namespaces/default")).status).toBe(200);
    const counters = await call(api, "GET", "/__control/counters");
    expect(counters.json["get namespaces"]).toBe(2);
    expect((await call(api, "POST", "/__control/outage", { body: { ms: 1000 } })).status).toBe(200);
    expect((await call(api, "GET", "/api/v1/namespaces")).status).toBe(503);
    await call(api, "POST", "/__control/clear", { body: {} });
    expect((await call(api, "GET", "/api/v1/namespaces")).status).toBe(200);
    expect((await call(api, "POST", "/__control/failNext", { token: null, body: {} })).status).toBe(401);
  });
});
