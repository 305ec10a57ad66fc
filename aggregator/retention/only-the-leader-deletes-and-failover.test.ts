// Retention and leader election with two replicas on a ManualClock against the local API
// server: only the leader deletes (each delete after an audit line), and when the leader
// is killed the other replica takes the Lease over within the lease time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { createLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { createPipelineMetrics } from "../pipeline/metrics.ts";
import {
  CTX,
  crashLoop,
  getJson,
  startTestCluster,
  type TestCluster,
  testPipeline,
} from "../pipeline/testing.ts";
import { kubeLeaseStore, kubeWhisperStore, LeaderElector, RetentionGc } from "./index.ts";

let cluster: TestCluster;
/** The API server's clock runs ahead by this much (ends an injected outage at once). */
let skewMs = 0;
beforeAll(async () => {
  cluster = await startTestCluster({ clock: () => Date.now() + skewMs });
  await cluster.kubectl("create", "namespace", "kernel-gossip");
  await cluster.kubectl("create", "namespace", "apps");
}, 60_000);
afterAll(async () => cluster?.close());

const HOUR = 3_600_000;
const LEASE_MS = 15_000;
const GC_INTERVAL_MS = 60_000;

function replica(name: string, clock: ManualClock) {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: "info",
    destination: { write: (s: string) => lines.push(JSON.parse(s)) },
  });
  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const elector = new LeaderElector({
    store: kubeLeaseStore(cluster.kubeConfig, "kernel-gossip", "kernel-gossip-aggregator-gc"),
    identity: name,
    leaseDurationMs: LEASE_MS,
    clock,
    log,
    metrics,
  });
  const gc = new RetentionGc({
    store: kubeWhisperStore(cluster.kubeConfig),
    isLeader: () => elector.isLeader(),
    clock,
    log,
    metrics,
    retentionMs: 24 * HOUR,
    intervalMs: GC_INTERVAL_MS,
    maxWhispers: 100,
  });
  return { name, elector, gc, lines, metrics };
}

async function writeWhisper(pod: string, observedAtMs: number): Promise<void> {
  const pipeline = testPipeline(cluster.kubeConfig, { settings: { podEvents: false } });
  pipeline.start();
  await pipeline.handleBatch(CTX, [
    crashLoop({ uid: pod, namespace: "apps", name: pod }, "app", 1, observedAtMs),
  ]);
  await pipeline.stop();
}

describe("retention and leader election", () => {
  it("only the leader deletes expired whispers; a killed leader is replaced within the lease time", async () => {
    const clock = new ManualClock(Date.now());
    const a = replica("aggregator-a", clock);
    const b = replica("aggregator-b", clock);
    const settle = () =>
      Promise.all([a.elector.settled(), b.elector.settled(), a.gc.settled(), b.gc.settled()]);
    const step = async (ms: number) => {
      clock.advance(ms);
      await settle();
    };

    a.elector.start();
    await a.elector.settled();
    b.elector.start();
    await b.elector.settled();
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.isLeader()).toBe(false);
    for (let i = 0; i < 6; i++) await step(a.elector.periodMs);
    expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);

    await writeWhisper("old-1", clock.now() - 25 * HOUR);
    await writeWhisper("fresh", clock.now() - HOUR);
    a.gc.start();
    b.gc.start();
    const deletesBefore = cluster.api.counters.get("delete", "kernelwhispers");
    for (let t = 0; t < GC_INTERVAL_MS; t += a.elector.periodMs) await step(a.elector.periodMs);
    expect(cluster.api.counters.get("delete", "kernelwhispers") - deletesBefore).toBe(1);
    expect((await getJson(cluster, "kw", "apps")).map((w) => w.metadata.name)).toEqual([
      "pod-fresh.app.crash-loop-back-off",
    ]);
    const audit = a.lines.filter((l) => l.msg === "deleting expired KernelWhisper");
    expect(audit).toEqual([
      expect.objectContaining({
        name: "pod-old-1.app.crash-loop-back-off",
        namespace: "apps",
        lastSeen: expect.any(String),
      }),
    ]);
    expect(b.lines.filter((l) => l.msg === "deleting expired KernelWhisper")).toEqual([]);
    expect((await a.metrics.leader.get()).values[0]?.value).toBe(1);
    expect((await b.metrics.leader.get()).values[0]?.value).toBe(0);

    // kill the leader: no release, its timers simply stop
    await a.gc.stop();
    await a.elector.stop({ release: false });
    let waited = 0;
    while (!b.elector.isLeader()) {
      await step(1_000);
      waited += 1_000;
      expect(waited).toBeLessThanOrEqual(LEASE_MS + 2 * b.elector.periodMs);
    }
    expect(waited).toBeGreaterThanOrEqual(LEASE_MS - b.elector.periodMs);
    const lease = JSON.parse(
      await cluster.kubectl(
        "get",
        "lease",
        "-n",
        "kernel-gossip",
        "kernel-gossip-aggregator-gc",
        "-o",
        "json",
      ),
    );
    expect(lease.spec.holderIdentity).toBe("aggregator-b");
    expect(lease.spec.leaseTransitions).toBe(1);

    // the new leader deletes
    await writeWhisper("old-2", clock.now() - 30 * HOUR);
    for (let t = 0; t < GC_INTERVAL_MS; t += b.elector.periodMs) await step(b.elector.periodMs);
    expect((await getJson(cluster, "kw", "apps")).map((w) => w.metadata.name)).toEqual([
      "pod-fresh.app.crash-loop-back-off",
    ]);
    expect(b.lines.filter((l) => l.msg === "deleting expired KernelWhisper")).toEqual([
      expect.objectContaining({ name: "pod-old-2.app.crash-loop-back-off", namespace: "apps" }),
    ]);

    await b.gc.stop();
    await b.elector.stop({ release: true });
    const released = JSON.parse(
      await cluster.kubectl(
        "get",
        "lease",
        "-n",
        "kernel-gossip",
        "kernel-gossip-aggregator-gc",
        "-o",
        "json",
      ),
    );
    expect(released.spec.holderIdentity ?? "").toBe("");
  }, 60_000);

  it("keeps the number of whispers under the bound, oldest resolved first", async () => {
    await cluster.kubectl("create", "namespace", "bound");
    const now = Date.now();
    const pipeline = testPipeline(cluster.kubeConfig, { settings: { podEvents: false } });
    pipeline.start();
    const pod = (i: number) => ({ uid: `b-${i}`, namespace: "bound", name: `b-${i}` });
    const { throttle } = await import("../pipeline/testing.ts");
    await pipeline.handleBatch(CTX, [
      crashLoop(pod(1), "app", 1, now - 5 * HOUR), // oldest, active
      throttle(pod(2), "app", 1, "resolved", 0.1, now - 2 * HOUR), // resolved, newer
      crashLoop(pod(3), "app", 1, now - HOUR),
      crashLoop(pod(4), "app", 1, now - 60_000),
    ]);
    await pipeline.stop();
    const lines: Record<string, unknown>[] = [];
    const gc = new RetentionGc({
      store: kubeWhisperStore(cluster.kubeConfig, 2),
      isLeader: () => true,
      clock: new ManualClock(now),
      log: createLogger({ destination: { write: (s: string) => lines.push(JSON.parse(s)) } }),
      metrics: createPipelineMetrics(createRegistry({ defaultMetrics: false })),
      retentionMs: 24 * HOUR,
      intervalMs: GC_INTERVAL_MS,
      maxWhispers: 3,
    });
    // the "apps" namespace still holds "fresh" from the first test; pages of 2 exercise `continue`
    const result = await gc.runOnce();
    expect(result.expired).toBe(0);
    expect(result).toEqual({ listed: 5, expired: 0, overBound: 2 });
    const left = (await getJson(cluster, "kw")).map((w) => w.metadata.name).sort();
    expect(left).toEqual([
      "pod-b-3.app.crash-loop-back-off",
      "pod-b-4.app.crash-loop-back-off",
      "pod-fresh.app.crash-loop-back-off",
    ]);
    // the resolved one goes first even though it is newer, then the oldest
    expect(lines.filter((l) => l.msg === "deleting KernelWhisper over the --max-whispers bound")).toEqual([
      expect.objectContaining({ name: "pod-b-2.app.cpu-throttling", resolved: true }),
      expect.objectContaining({ name: "pod-b-1.app.crash-loop-back-off", resolved: false }),
    ]);
  });

  it("a leader that cannot renew steps down before anyone may take over", async () => {
    const clock = new ManualClock(Date.now());
    const a = replica("aggregator-c", clock);
    const b = replica("aggregator-d", clock);
    const settle = () => Promise.all([a.elector.settled(), b.elector.settled()]);
    // the lease from the first test was released: c takes it
    a.elector.start();
    await a.elector.settled();
    b.elector.start();
    await b.elector.settled();
    expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    cluster.api.faults.outage(3_600_000);
    let aDownAt: number | undefined;
    for (let t = a.elector.periodMs; t <= 2 * LEASE_MS; t += a.elector.periodMs) {
      clock.advance(a.elector.periodMs);
      await settle();
      if (aDownAt === undefined && !a.elector.isLeader()) aDownAt = t;
      expect(a.elector.isLeader() && b.elector.isLeader()).toBe(false);
    }
    expect(aDownAt).toBeDefined();
    expect(aDownAt).toBeLessThan(LEASE_MS);
    expect((await a.metrics.leader.get()).values[0]?.value).toBe(0);
    skewMs += 3_600_000; // the outage is over
    for (let i = 0; i < 6 && !a.elector.isLeader() && !b.elector.isLeader(); i++) {
      clock.advance(a.elector.periodMs);
      await settle();
    }
    expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    await a.elector.stop({ release: true });
    await b.elector.stop({ release: true });
  });
});
