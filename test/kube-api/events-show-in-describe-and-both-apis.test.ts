/**
 * Events as the aggregator may write them: core/v1 or events.k8s.io/v1 (the
 * same stored objects, each version with its own field names), listed by
 * `kubectl get events` and shown by `kubectl describe pod` when they name the
 * pod's uid.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { call, kubectl } from "./testing.ts";

describe("events", () => {
  let api: KubeApi;
  let podUid = "";
  beforeAll(async () => {
    api = await startKubeApi();
    const pod = await call(api, "POST", "/api/v1/namespaces/default/pods", {
      body: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "web" },
        spec: { containers: [{ name: "app", image: "nginx:1.27" }] },
      },
    });
    podUid = pod.json.metadata.uid;
  });
  afterAll(() => api.close());

  it("an events.k8s.io/v1 Event is a core/v1 Event too", async () => {
    const v1 = await call(api, "POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
      body: {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name: "web.oom" },
        eventTime: "2024-01-01T00:00:00.000000Z",
        reportingController: "kernel.gossip.io/aggregator",
        reportingInstance: "aggregator-0",
        action: "Observed",
        reason: "OOMKilled",
        type: "Warning",
        note: "container app was OOM-killed by the kernel",
        regarding: { apiVersion: "v1", kind: "Pod", name: "web", namespace: "default", uid: podUid },
      },
    });
    expect(v1.status).toBe(201);
    expect(v1.json).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      note: "container app was OOM-killed by the kernel",
    });
    const core = await call(api, "GET", "/api/v1/namespaces/default/events/web.oom");
    expect(core.json).toMatchObject({
      apiVersion: "v1",
      kind: "Event",
      message: "container app was OOM-killed by the kernel",
      reportingComponent: "kernel.gossip.io/aggregator",
      involvedObject: { kind: "Pod", name: "web", uid: podUid },
    });
    const patched = await call(api, "PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/web.oom", {
      body: { series: { count: 2, lastObservedTime: "2024-01-01T00:01:00.000000Z" } },
      contentType: "application/merge-patch+json",
    });
    expect(patched.json.series.count).toBe(2);
  });

  it("rejects an events.k8s.io/v1 Event without eventTime and reporter", async () => {
    const r = await call(api, "POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
      body: {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name: "bad" },
        reason: "X",
        type: "Warning",
      },
    });
    expect(r.status).toBe(422);
    expect(r.json.details.causes.map((c: { field: string }) => c.field)).toEqual([
      "eventTime",
      "reportingController",
      "reportingInstance",
      "action",
    ]);
  });

  it("kubectl get events and describe pod show it", async () => {
    const get = await kubectl(api, ["get", "events"]);
    // kube-apiserver: LAST SEEN   TYPE      REASON      OBJECT    MESSAGE
    expect((get.stdout.split("\n")[0] ?? "").trim().split(/\s{2,}/)).toEqual([
      "LAST SEEN",
      "TYPE",
      "REASON",
      "OBJECT",
      "MESSAGE",
    ]);
    expect(get.stdout).toMatch(/Warning\s+OOMKilled\s+pod\/web\s+container app was OOM-killed by the kernel/);
    const d = await kubectl(api, ["describe", "pod", "web"]);
    expect(d.stdout).toMatch(
      /Warning\s+OOMKilled\s+.+\s+kernel\.gossip\.io\/aggregator\s+container app was OOM-killed by the kernel/,
    );
  });
});
