// --write-qps is for the whole cluster: each replica keeps a Lease, counts the live ones and
// writes at most its share; a replica that stops hands its share back within a period, one
// that is killed (stops renewing) after the lease duration.
import { afterAll, beforeAll, expect, it } from "vitest";
import { systemClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { TokenBucket } from "../../shared/token-bucket.ts";
import { startTestCluster, type TestCluster } from "../pipeline/testing.ts";
import { kubeReplicaLeaseStore, replicaLeaseName, WRITE_BUDGET_FAMILY, WriteBudget } from "./index.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster({ withoutCrds: true });
  await cluster.kubectl("create", "namespace", "kg");
}, 60_000);
afterAll(async () => cluster?.close());

const LEASE_MS = 1_500;

function replica(identity: string) {
  const bucket = new TokenBucket({ rate: 60, burst: 90, clock: systemClock });
  const budget = new WriteBudget({
    store: kubeReplicaLeaseStore(cluster.kubeConfig, "kg", WRITE_BUDGET_FAMILY),
    name: replicaLeaseName(identity),
    qps: 60,
    burst: 90,
    leaseDurationMs: LEASE_MS,
    bucket,
    clock: systemClock,
    log: silentLogger(),
  });
  return { bucket, budget };
}

it("three replicas write 20/s each of a 60/s budget; two after one stops, then after one dies", async () => {
  const replicas = ["aggregator-7d9f-a", "aggregator-7d9f-b", "aggregator-7d9f-c"].map(replica);
  for (const r of replicas) r.budget.start();
  try {
    for (const r of replicas) {
      await expect.poll(() => r.bucket.rate, { timeout: 30_000 }).toBe(20);
      expect(r.bucket.burst).toBe(30);
    }
    const leases = await cluster.kubectl("get", "leases", "-n", "kg", "-o", "name");
    expect(leases.trim().split("\n").sort()).toEqual([
      "lease.coordination.k8s.io/kernel-gossip-aggregator-replica-aggregator-7d9f-a",
      "lease.coordination.k8s.io/kernel-gossip-aggregator-replica-aggregator-7d9f-b",
      "lease.coordination.k8s.io/kernel-gossip-aggregator-replica-aggregator-7d9f-c",
    ]);

    // Graceful stop: the Lease is deleted, the others take its share within a period.
    const [a, b, c] = replicas as [(typeof replicas)[0], (typeof replicas)[0], (typeof replicas)[0]];
    await c.budget.stop();
    await expect.poll(() => a.bucket.rate, { timeout: 30_000 }).toBe(30);
    await expect.poll(() => b.bucket.rate, { timeout: 30_000 }).toBe(30);

    // "Killed": b stops renewing without deleting its Lease (its timer is gone, the Lease
    // stays); a counts it alive until the lease duration passed unchanged, then takes it all.
    await b.budget.stop({ release: false });
    await expect.poll(() => a.bucket.rate, { timeout: 30_000 }).toBe(60);
  } finally {
    for (const r of replicas) await r.budget.stop();
  }
});

it("lease names are DNS-1123 subdomains whatever the host name", () => {
  expect(replicaLeaseName("Aggregator_0.Example")).toBe(
    "kernel-gossip-aggregator-replica-aggregator-0.example",
  );
  expect(replicaLeaseName("---")).toBe("kernel-gossip-aggregator-replica-unnamed");
});
