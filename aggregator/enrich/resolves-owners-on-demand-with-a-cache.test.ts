// Enrichment against the local API server: owners resolved by on-demand GETs behind the
// cache (one GET per ReplicaSet however many pods), a failed lookup falls back to the
// nearest known owner and is counted, the project comes from pod, namespace or name.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { PodRef } from "../../shared/proto.ts";
import { createPipelineMetrics, type PipelineMetrics } from "../pipeline/metrics.ts";
import { startTestCluster, type TestCluster } from "../pipeline/testing.ts";
import { Enricher, EnrichMemo, kubeLookupSource } from "./index.ts";

let cluster: TestCluster;
let rsUid = "";
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.apply(`
apiVersion: v1
kind: Namespace
metadata: { name: team-a, labels: { project-id: payments } }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: checkout, namespace: team-a }
spec:
  selector: { matchLabels: { app: checkout } }
  template:
    metadata: { labels: { app: checkout } }
    spec: { containers: [{ name: app, image: nginx }] }
---
apiVersion: batch/v1
kind: Job
metadata: { name: migrate, namespace: team-a }
spec:
  template:
    spec: { restartPolicy: Never, containers: [{ name: main, image: busybox }] }
`);
  const deployUid = (
    await cluster.kubectl("get", "deployment", "checkout", "-n", "team-a", "-o", "jsonpath={.metadata.uid}")
  ).trim();
  await cluster.apply(`
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: checkout-6c8f9
  namespace: team-a
  ownerReferences: [{ apiVersion: apps/v1, kind: Deployment, name: checkout, uid: ${deployUid}, controller: true }]
spec:
  selector: { matchLabels: { app: checkout } }
  template:
    metadata: { labels: { app: checkout } }
    spec: { containers: [{ name: app, image: nginx }] }
`);
  rsUid = (
    await cluster.kubectl("get", "rs", "checkout-6c8f9", "-n", "team-a", "-o", "jsonpath={.metadata.uid}")
  ).trim();
}, 60_000);
afterAll(async () => cluster?.close());

function enricher(metrics: PipelineMetrics): Enricher {
  return new Enricher({
    source: kubeLookupSource(cluster.kubeConfig),
    log: silentLogger(),
    metrics,
    cluster: "prod-eu",
    projectLabel: "project-id",
    workloadLabel: "workload-id",
    cacheSize: 100,
    cacheTtlMs: 600_000,
  });
}

const pod = (
  i: number,
  owners: PodRef["owners"],
  labels: Record<string, string> = {},
  namespace = "team-a",
): PodRef => ({
  uid: `u${i}`,
  namespace,
  name: `p${i}`,
  labels,
  owners,
});

const value = async (metrics: PipelineMetrics, name: "enrichCacheHits" | "enrichCacheMisses") =>
  (await metrics[name].get()).values[0]?.value ?? 0;

describe("enrichment", () => {
  it("resolves ReplicaSet → Deployment with one GET for many pods, project from the namespace label", async () => {
    const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
    const e = enricher(metrics);
    const gets = cluster.api.counters.get("get", "replicasets");
    const owners = [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: "checkout-6c8f9", uid: rsUid, controller: true },
    ];
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => e.enrich(pod(i, owners))));
    for (const r of results) {
      expect(r).toEqual({
        cluster: "prod-eu",
        project: "payments",
        workload: { kind: "Deployment", name: "checkout" },
      });
    }
    expect(cluster.api.counters.get("get", "replicasets") - gets).toBe(1);
    expect(await value(metrics, "enrichCacheMisses")).toBe(2); // the ReplicaSet and the namespace
    expect(await value(metrics, "enrichCacheHits")).toBe(98);
  });

  it("once cached, a pod's enrichment is answered synchronously (no promise per event), same answer, counted as hits", async () => {
    const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
    const e = enricher(metrics);
    const owners = [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: "checkout-6c8f9", uid: rsUid, controller: true },
    ];
    // Nothing cached yet: the caller must take the async path.
    expect(e.enrichCached(pod(1, owners))).toBeUndefined();
    const loaded = await e.enrich(pod(1, owners));
    const gets = cluster.api.counters.get("get", "replicasets");
    const hits = await value(metrics, "enrichCacheHits");
    const cached = Array.from({ length: 20 }, (_, i) => e.enrichCached(pod(100 + i, owners)));
    for (const c of cached) expect(c).toEqual(loaded);
    expect(loaded).toEqual({
      cluster: "prod-eu",
      project: "payments",
      workload: { kind: "Deployment", name: "checkout" },
    });
    expect(cluster.api.counters.get("get", "replicasets") - gets).toBe(0);
    expect((await value(metrics, "enrichCacheHits")) - hits).toBe(40); // namespace + ReplicaSet each
    // Labels and controllers that need no lookup are answered without the cache.
    expect(
      e.enrichCached(pod(7, [{ kind: "StatefulSet", name: "db", controller: true }], { "project-id": "x" })),
    ).toEqual({ cluster: "prod-eu", project: "x", workload: { kind: "StatefulSet", name: "db" } });
  });

  it("within one batch pass, a pod seen again with the same inputs reuses its enrichment, hits still counted per event; other inputs are resolved anew", async () => {
    const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
    const e = enricher(metrics);
    const owners = [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: "checkout-6c8f9", uid: rsUid, controller: true },
    ];
    const loaded = await e.enrich(pod(1, owners));
    const hits = await value(metrics, "enrichCacheHits");
    const memo = new EnrichMemo();
    const first = e.enrichCached(pod(1, owners), memo);
    const again = e.enrichCached(pod(1, owners), memo);
    expect(loaded.workload).toEqual({ kind: "Deployment", name: "checkout" });
    expect(first).toEqual(loaded);
    expect(again).toBe(first);
    // The same uid with its own workload label (a different input) is not answered from the memo.
    const labelled = e.enrichCached(pod(1, owners, { "workload-id": "w" }), memo);
    expect(labelled).toEqual({
      cluster: "prod-eu",
      project: "payments",
      workload: { kind: "Label", name: "w" },
    });
    // The same uid under a StatefulSet controller: resolved from its owner, not the memo's Deployment.
    const other = e.enrichCached(pod(1, [{ kind: "StatefulSet", name: "db", controller: true }]), memo);
    expect(other?.workload).toEqual({ kind: "StatefulSet", name: "db" });
    // Hits reach the metric when the pass is flushed: namespace + ReplicaSet for each of the two
    // memo answers, the namespace for the labelled and the StatefulSet pod.
    expect((await value(metrics, "enrichCacheHits")) - hits).toBe(0);
    e.flush(memo);
    expect((await value(metrics, "enrichCacheHits")) - hits).toBe(6);
  });

  it("labels win; other controllers and bare pods need no GET; a Job without CronJob is the workload", async () => {
    const e = enricher(createPipelineMetrics(createRegistry({ defaultMetrics: false })));
    expect(
      (await e.enrich(pod(1, [], { "workload-id": "checkout-api", "project-id": "web" }))).workload,
    ).toEqual({ kind: "Label", name: "checkout-api" });
    expect(
      (await e.enrich(pod(2, [{ kind: "DaemonSet", name: "agent", controller: true }]))).workload,
    ).toEqual({
      kind: "DaemonSet",
      name: "agent",
    });
    expect((await e.enrich(pod(3, []))).workload).toEqual({ kind: "Pod", name: "p3" });
    expect((await e.enrich(pod(4, [{ kind: "Job", name: "migrate", controller: true }]))).workload).toEqual({
      kind: "Job",
      name: "migrate",
    });
    expect((await e.enrich(pod(5, [], {}, "default"))).project).toBe("default");
  });

  it("a failed lookup falls back to the nearest owner (Deployment from the pod-template-hash) and is counted", async () => {
    const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
    const e = enricher(metrics);
    cluster.api.faults.failNext({ verb: "get", resource: "replicasets", status: 500, count: 1 });
    cluster.api.faults.failNext({ verb: "get", resource: "namespaces", status: 500, count: 1 });
    const r = await e.enrich(
      pod(9, [{ kind: "ReplicaSet", name: "cart-7b5d4", controller: true }], {
        "pod-template-hash": "7b5d4",
      }),
    );
    expect(r).toEqual({
      cluster: "prod-eu",
      project: "team-a",
      workload: { kind: "Deployment", name: "cart" },
    });
    const fallbacks = (await metrics.enrichFallbacks.get()).values.map((v) => v.labels.reason).sort();
    expect(fallbacks).toEqual(["namespace_lookup_failed", "owner_lookup_failed"]);
    // not cached: the next lookup asks again and finds the ReplicaSet missing (404)
    const again = await e.enrich(pod(10, [{ kind: "ReplicaSet", name: "orphan-rs", controller: true }]));
    expect(again.workload).toEqual({ kind: "ReplicaSet", name: "orphan-rs" });
  });
});
