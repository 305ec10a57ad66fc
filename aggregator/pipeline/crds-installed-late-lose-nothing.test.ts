// An aggregator started before the CRDs are installed says so and keeps the batch
// unacknowledged; once `kubectl apply -f crds/` ran, everything is written.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { createPipelineMetrics } from "./metrics.ts";
import { CTX, crashLoop, getJson, startTestCluster, type TestCluster, testPipeline } from "./testing.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster({ withoutCrds: true });
  await cluster.kubectl("create", "namespace", "early");
}, 60_000);
afterAll(async () => cluster?.close());

it("says the CRDs are missing, keeps the batch unacknowledged, then writes it once they are installed", async () => {
  const lines: Record<string, unknown>[] = [];
  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const pipeline = testPipeline(cluster.kubeConfig, {
    metrics,
    log: createLogger({ level: "warn", destination: { write: (s: string) => lines.push(JSON.parse(s)) } }),
  });
  pipeline.start();
  let acked = false;
  const pod = { uid: "e1", namespace: "early", name: "early" };
  const batch = pipeline.handleBatch(CTX, [crashLoop(pod, "app", 1), crashLoop(pod, "app", 2)]).then((r) => {
    acked = true;
    return r;
  });
  const notFound = async () =>
    (await metrics.crWrites.get()).values.find((v) => v.labels.outcome === "not_found")?.value ?? 0;
  await expect
    .poll(notFound, { message: "write attempts reaching the API server" })
    .toBeGreaterThanOrEqual(2);
  expect(acked).toBe(false);
  expect(lines).toContainEqual(
    expect.objectContaining({
      level: "error",
      kind: "KernelWhisper",
      msg: expect.stringContaining("install the CRDs (kubectl apply -f crds/)"),
    }),
  );
  await cluster.installCrds();
  expect(await batch).toEqual({ dropped: 0 });
  const [w] = await getJson(cluster, "kw", "early");
  expect(w?.status.count).toBe(2);
  await pipeline.stop();
});
