// Against the local API server with the real kubectl: a crash-looping pod of a Deployment,
// an OOM-killed pod of a CronJob's Job, a throttled StatefulSet pod and a bare pod each
// produce the right KernelWhisper with the right workload and project.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatchPipeline } from "./index.ts";
import {
  birth,
  CTX,
  crashLoop,
  createPod,
  getJson,
  kernelOom,
  oomKilled,
  startTestCluster,
  type TestCluster,
  type TestPod,
  testPipeline,
  throttle,
} from "./testing.ts";

let cluster: TestCluster;
let pipeline: BatchPipeline;
const uids: Record<string, string> = {};

async function uidOf(kind: string, name: string, namespace = "shop"): Promise<string> {
  return (await cluster.kubectl("get", kind, name, "-n", namespace, "-o", "jsonpath={.metadata.uid}")).trim();
}

beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.apply(`
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { project-id: storefront } }
---
apiVersion: v1
kind: Namespace
metadata: { name: tools }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: app, image: nginx }] }
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: report, namespace: shop }
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec: { restartPolicy: Never, containers: [{ name: main, image: busybox }] }
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db, namespace: shop }
spec:
  serviceName: db
  selector: { matchLabels: { app: db } }
  template:
    metadata: { labels: { app: db } }
    spec: { containers: [{ name: postgres, image: postgres }] }
`);
  uids.web = await uidOf("deployment", "web");
  uids.report = await uidOf("cronjob", "report");
  uids.db = await uidOf("statefulset", "db");
  await cluster.apply(`
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d9f7b
  namespace: shop
  labels: { app: web, pod-template-hash: 5d9f7b }
  ownerReferences: [{ apiVersion: apps/v1, kind: Deployment, name: web, uid: ${uids.web}, controller: true }]
spec:
  replicas: 1
  selector: { matchLabels: { app: web, pod-template-hash: 5d9f7b } }
  template:
    metadata: { labels: { app: web, pod-template-hash: 5d9f7b } }
    spec: { containers: [{ name: app, image: nginx }] }
---
apiVersion: batch/v1
kind: Job
metadata:
  name: report-29100
  namespace: shop
  ownerReferences: [{ apiVersion: batch/v1, kind: CronJob, name: report, uid: ${uids.report}, controller: true }]
spec:
  template:
    spec: { restartPolicy: Never, containers: [{ name: main, image: busybox }] }
`);
  uids.rs = await uidOf("replicaset", "web-5d9f7b");
  uids.webPod = await createPod(cluster, "shop", "web-5d9f7b-x2x9z");
  uids.dbPod = await createPod(cluster, "shop", "db-0", "node-2");
  uids.job = await uidOf("job", "report-29100");
  pipeline = testPipeline(cluster.kubeConfig);
  pipeline.start();
}, 60_000);

afterAll(async () => {
  await pipeline?.stop();
  await cluster?.close();
});

const webPod = (): TestPod => ({
  uid: uids.webPod ?? "",
  namespace: "shop",
  name: "web-5d9f7b-x2x9z",
  labels: { app: "web", "pod-template-hash": "5d9f7b" },
  owners: [
    { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-5d9f7b", uid: uids.rs ?? "", controller: true },
  ],
});
const jobPod = (): TestPod => ({
  uid: "pod-report-1",
  namespace: "shop",
  name: "report-29100-abcde",
  labels: { "job-name": "report-29100", "project-id": "finance" },
  owners: [
    { apiVersion: "batch/v1", kind: "Job", name: "report-29100", uid: uids.job ?? "", controller: true },
  ],
});
const dbPod = (): TestPod => ({
  uid: uids.dbPod ?? "",
  namespace: "shop",
  name: "db-0",
  node: "node-2",
  owners: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "db", uid: uids.db ?? "", controller: true }],
});
const barePod: TestPod = { uid: "pod-debug", namespace: "tools", name: "debug" };

describe("whispers name the right workload and project", () => {
  it("writes one whisper per (workload, container, signal) with its owner chain resolved", async () => {
    const web = webPod();
    const result = await pipeline.handleBatch(CTX, [
      crashLoop(web, "app", 3),
      crashLoop(web, "app", 4),
      oomKilled(jobPod(), "main", 0, 128 * 1024 * 1024),
      throttle(dbPod(), "postgres", 1, "open", 0.87),
      crashLoop(barePod, "shell", 1),
      birth(web),
    ]);
    expect(result.dropped).toBe(0);
    await pipeline.writer.idle(); // throttle samples are acked once folded, written after (ADR 0011)

    const shop = await getJson(cluster, "kw", "shop");
    const byName = Object.fromEntries(shop.map((o) => [o.metadata.name, o]));
    expect(Object.keys(byName).sort()).toEqual([
      "cronjob-report.main.oom-killed",
      "deployment-web.app.crash-loop-back-off",
      "statefulset-db.postgres.cpu-throttling",
    ]);

    const crash = byName["deployment-web.app.crash-loop-back-off"];
    expect(crash.spec).toEqual({
      cluster: "test-cluster",
      project: "storefront",
      workload: { kind: "Deployment", name: "web" },
      container: "app",
      signal: "CrashLoopBackOff",
    });
    expect(crash.status.count).toBe(2);
    expect(crash.status.severity).toBe("critical");
    expect(crash.status.evidence.termination).toMatchObject({
      exitCode: 1,
      restartCount: 4,
      backoffSeconds: 40,
    });
    expect(crash.status.recommendation.action).toBe("FixCrash");
    expect(crash.status.affectedPods).toEqual([
      expect.objectContaining({ name: "web-5d9f7b-x2x9z", uid: uids.webPod, node: "node-1", count: 2 }),
    ]);
    const managed = JSON.parse(
      await cluster.kubectl(
        "get",
        "kw",
        "-n",
        "shop",
        crash.metadata.name,
        "-o",
        "json",
        "--show-managed-fields",
      ),
    ).metadata.managedFields as { manager: string; operation: string; subresource?: string }[];
    expect(managed.map((f) => `${f.manager}/${f.operation}/${f.subresource ?? ""}`).sort()).toEqual([
      "kernel-gossip-aggregator/Apply/",
      "kernel-gossip-aggregator/Apply/status",
    ]);

    const oom = byName["cronjob-report.main.oom-killed"];
    expect(oom.spec.workload).toEqual({ kind: "CronJob", name: "report" });
    expect(oom.spec.project).toBe("finance"); // the pod's own label wins over the namespace's
    expect(oom.status.evidence.oom).toMatchObject({ source: "kubelet", limitBytes: 128 * 1024 * 1024 });
    expect(oom.status.recommendation).toMatchObject({ action: "SetMemoryLimit", memoryLimit: "228Mi" });

    const thr = byName["statefulset-db.postgres.cpu-throttling"];
    expect(thr.spec.workload).toEqual({ kind: "StatefulSet", name: "db" });
    expect(thr.status).toMatchObject({
      severity: "critical",
      throttledPercent: 87,
      count: 1,
      node: "node-2",
    });
    expect(thr.status.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: "Active", status: "True" })]),
    );

    const tools = await getJson(cluster, "kw", "tools");
    expect(tools).toHaveLength(1);
    const bare = tools[0] ?? {};
    expect(bare.metadata.name).toBe("pod-debug.shell.crash-loop-back-off");
    expect(bare.spec).toMatchObject({ project: "tools", workload: { kind: "Pod", name: "debug" } });

    const births = await getJson(cluster, "pbc", "shop");
    expect(births).toHaveLength(1);
    const pbc = births[0] ?? {};
    expect(pbc.spec.pod).toMatchObject({ name: "web-5d9f7b-x2x9z", uid: uids.webPod });
    expect(pbc.spec.workload).toEqual({ kind: "Deployment", name: "web" });
    expect(pbc.metadata.ownerReferences).toEqual([
      expect.objectContaining({ apiVersion: "v1", kind: "Pod", name: "web-5d9f7b-x2x9z", uid: uids.webPod }),
    ]);
  });

  it("kubectl get kw and get pbc print readable tables", async () => {
    const kw = await cluster.kubectl("get", "kw", "-n", "shop");
    const lines = kw.trim().split("\n");
    expect(lines[0]).toMatch(
      /^NAME\s+WORKLOAD\s+CONTAINER\s+SIGNAL\s+SEVERITY\s+THROTTLED\s+MEMORY\s+COUNT\s+LAST SEEN\s+AGE$/,
    );
    const row = lines.find((l) => l.startsWith("statefulset-db.postgres.cpu-throttling")) ?? "";
    expect(row.split(/\s+/).slice(1, 8)).toEqual([
      "db",
      "postgres",
      "CPUThrottling",
      "critical",
      "87%",
      "-",
      "1",
    ]);
    const crashRow = lines.find((l) => l.startsWith("deployment-web.app.crash-loop-back-off")) ?? "";
    expect(crashRow.split(/\s+/).slice(1, 8)).toEqual([
      "web",
      "app",
      "CrashLoopBackOff",
      "critical",
      "-",
      "-",
      "2",
    ]);

    const wide = await cluster.kubectl("get", "kw", "-n", "shop", "-o", "wide");
    expect(wide.split("\n")[0]).toMatch(/\s+PROJECT\s+NODE$/);
    expect(wide).toMatch(/statefulset-db\.postgres\.cpu-throttling .* storefront\s+node-2/);

    const pbc = await cluster.kubectl("get", "pbc", "-n", "shop");
    const [head, first] = pbc.trim().split("\n");
    expect(head).toMatch(/^NAME\s+POD\s+NODE\s+READY\s+TO READY\s+SLOWEST PHASE\s+AGE$/);
    // 4.2 s from whole-second API timestamps reads "4s": a certificate shows the precision
    // its timestamps have (aggregator/emit/birth.ts).
    expect(first).toMatch(
      /^web-5d9f7b-x2x9z-[0-9a-f]{6}\s+web-5d9f7b-x2x9z\s+node-1\s+true\s+4s\s+started app \(Runtime\) 3s\s+/,
    );

    const describe = await cluster.kubectl(
      "describe",
      "kw",
      "-n",
      "shop",
      "statefulset-db.postgres.cpu-throttling",
    );
    expect(describe).toContain("Recommendation:");
  });

  it("a redelivered batch is dropped, not counted twice", async () => {
    const web = webPod();
    const result = await pipeline.handleBatch(CTX, [crashLoop(web, "app", 3), crashLoop(web, "app", 4)]);
    expect(result.dropped).toBe(2);
    const [crash] = (await getJson(cluster, "kw", "shop")).filter(
      (o) => o.metadata.name === "deployment-web.app.crash-loop-back-off",
    );
    expect(crash?.status.count).toBe(2);
  });

  it("writes a Warning Event on the pod for each new whisper, shown by kubectl describe pod", async () => {
    await pipeline.podEvents.drain();
    const events = JSON.parse(
      await cluster.kubectl(
        "get",
        "events",
        "-n",
        "shop",
        "--field-selector",
        "involvedObject.name=db-0",
        "-o",
        "json",
      ),
    ).items as { type: string; reason: string; message: string }[];
    expect(events).toEqual([
      expect.objectContaining({
        type: "Warning",
        reason: "CPUThrottling",
        message: expect.stringContaining("kubectl get kw statefulset-db.postgres.cpu-throttling -n shop"),
      }),
    ]);
    const describe = await cluster.kubectl("describe", "pod", "-n", "shop", "db-0");
    expect(describe).toMatch(
      /Warning\s+CPUThrottling\s+.*kernel-gossip-aggregator\s+kernel-gossip: CPUThrottling in container postgres/,
    );
  });

  it("a kernel OOM kill of a child process is an OOMKilled whisper with source kernel", async () => {
    expect((await pipeline.handleBatch(CTX, [kernelOom(dbPod(), "postgres", 1)])).dropped).toBe(0);
    const [oom] = (await getJson(cluster, "kw", "shop")).filter(
      (o) => o.metadata.name === "statefulset-db.postgres.oom-killed",
    );
    expect(oom?.status).toMatchObject({
      severity: "warning",
      count: 1,
      evidence: { oom: { source: "kernel", mainProcessSurvived: true, limitBytes: 256 * 1024 * 1024 } },
      recommendation: { action: "SetMemoryLimit", memoryLimit: "356Mi" },
    });
  });

  it("a birth certificate goes away with its pod (owner reference, garbage collection)", async () => {
    expect(await getJson(cluster, "pbc", "shop")).toHaveLength(1);
    await cluster.kubectl("delete", "pod", "web-5d9f7b-x2x9z", "-n", "shop", "--wait=false");
    // Bound to a node, the pod is Terminating until the node's kubelet confirms (if unbound, gone now).
    cluster.api.confirmPodDeletion("shop", "web-5d9f7b-x2x9z");
    await expect
      .poll(async () => (await getJson(cluster, "pbc", "shop")).length, {
        message: "the certificate gone after its pod was deleted",
      })
      .toBe(0);
  });
});
