/**
 * Watch semantics of kube-apiserver's watch cache: synthetic ADDED events for
 * resourceVersion unset or "0", replay after a specific version, an ERROR event
 * with a 410 Expired Status for a version that is too old, BOOKMARKs carrying
 * only a resourceVersion, objects leaving a selector arriving as DELETED, and
 * timeoutSeconds.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { call, watch } from "./testing.ts";

const cm = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, labels },
  data: {},
});
const NS = "/api/v1/namespaces/w/configmaps";

describe("watch", () => {
  let api: KubeApi;
  beforeEach(async () => {
    api = await startKubeApi({ bookmarkIntervalMs: 50, historyWindow: 50 });
    await call(api, "POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "w" } },
    });
  });
  afterEach(() => api.close());

  it("starts with synthetic ADDED events when resourceVersion is unset or 0", async () => {
    await call(api, "POST", NS, { body: cm("one") });
    for (const rv of ["", "&resourceVersion=0"]) {
      const w = watch(api, `${NS}?watch=true${rv}`);
      expect(await w.status).toBe(200);
      const ev = await w.next();
      expect(ev.type).toBe("ADDED");
      expect(ev.object).toMatchObject({ kind: "ConfigMap", apiVersion: "v1", metadata: { name: "one" } });
      w.close();
    }
  });

  it("replays what happened after a given resourceVersion", async () => {
    const a = await call(api, "POST", NS, { body: cm("a") });
    await call(api, "POST", NS, { body: cm("b") });
    await call(api, "DELETE", `${NS}/a`);
    const w = watch(api, `${NS}?watch=true&resourceVersion=${a.json.metadata.resourceVersion}`);
    expect((await w.next()).type).toBe("ADDED");
    const del = await w.next();
    expect(del.type).toBe("DELETED");
    expect(del.object.metadata.name).toBe("a");
    w.close();
  });

  it("answers a too-old resourceVersion with an ERROR event carrying 410 Expired, then ends", async () => {
    const first = await call(api, "POST", NS, { body: cm("old") });
    for (let i = 0; i < 60; i++) await call(api, "POST", NS, { body: cm(`fill-${i}`) });
    const w = watch(api, `${NS}?watch=true&resourceVersion=${first.json.metadata.resourceVersion}`);
    expect(await w.status).toBe(200);
    const ev = await w.next();
    expect(ev.type).toBe("ERROR");
    expect(ev.object).toMatchObject({
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      reason: "Expired",
      code: 410,
    });
    expect(ev.object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
    expect(await w.ended).toBe("end");
  });

  it("sends bookmarks with only metadata.resourceVersion when allowed", async () => {
    const w = watch(
      api,
      `${NS}?watch=true&allowWatchBookmarks=true&resourceVersion=${api.store.resourceVersion}`,
    );
    const ev = await w.next();
    expect(ev).toEqual({
      type: "BOOKMARK",
      object: {
        kind: "ConfigMap",
        apiVersion: "v1",
        metadata: { resourceVersion: api.store.resourceVersion },
      },
    });
    w.close();
  });

  it("turns objects leaving or entering the selector into DELETED and ADDED", async () => {
    await call(api, "POST", NS, { body: cm("s", { team: "a" }) });
    const w = watch(api, `${NS}?watch=true&labelSelector=team%3Da`);
    expect((await w.next()).type).toBe("ADDED");
    const merge = "application/merge-patch+json";
    await call(api, "PATCH", `${NS}/s`, {
      body: { metadata: { labels: { team: "b" } } },
      contentType: merge,
    });
    expect((await w.next()).type).toBe("DELETED");
    await call(api, "PATCH", `${NS}/s`, {
      body: { metadata: { labels: { team: "a" } } },
      contentType: merge,
    });
    expect((await w.next()).type).toBe("ADDED");
    w.close();
  });

  it("ends after timeoutSeconds", async () => {
    const w = watch(api, `${NS}?watch=true&timeoutSeconds=1&resourceVersion=${api.store.resourceVersion}`);
    expect(await w.ended).toBe("end");
  });

  it("cluster-wide watch sees every namespace; namespaced watch only its own", async () => {
    await call(api, "POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } },
    });
    const rv = api.store.resourceVersion;
    const all = watch(api, `/api/v1/configmaps?watch=true&resourceVersion=${rv}`);
    const mine = watch(api, `${NS}?watch=true&resourceVersion=${rv}`);
    await call(api, "POST", "/api/v1/namespaces/x/configmaps", { body: cm("elsewhere") });
    await call(api, "POST", NS, { body: cm("here") });
    expect((await all.next()).object.metadata.name).toBe("elsewhere");
    expect((await all.next()).object.metadata.name).toBe("here");
    expect((await mine.next()).object.metadata.name).toBe("here");
    all.close();
    mine.close();
  });
});
