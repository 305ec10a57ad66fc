// The write-ahead journal (ADR 0014) through the real pipeline, writer and API server: a batch
// of counted occurrences is acknowledged once this replica's journal ConfigMap holds it, while
// its whisper's write is still held back by the per-object interval; a replica that dies after
// that ack and before the whisper write leaves the change in its journal, and whoever replays
// it — the same replica restarted, another one taking the journal for orphaned, or both — counts
// it exactly once; a change that does not fit in --journal-max-bytes waits for its whisper write.
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { createRegistry } from "../../shared/metrics.ts";
import { kubeCrClient } from "../emit/kube.ts";
import { createPipelineMetrics } from "../pipeline/metrics.ts";
import {
  CTX,
  crashLoop,
  getJson,
  startTestCluster,
  type TestCluster,
  testPipeline,
} from "../pipeline/testing.ts";
import { decodeJournal } from "./format.ts";
import { type JournalStore, kubeJournalStore } from "./store.ts";

const NS = "journal";
let cluster: TestCluster;
let store: JournalStore;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", NS);
  store = kubeJournalStore(cluster.kubeConfig, NS);
}, 60_000);
afterAll(async () => cluster?.close());

/** Long enough that no second write of an object happens while a test runs. */
const HELD_BACK = { objectMinInterval: 600_000, podEvents: false, journalInterval: 50 };

const pod = (i: number) => ({
  uid: `j-pod-${i}`,
  namespace: NS,
  name: `shop-${i}`,
  labels: { "workload-id": "shop" },
});

async function whisperCount(workload: string): Promise<number | undefined> {
  const items = await getJson(cluster, "kernelwhispers", NS);
  return items.find((w) => w.spec.workload.name === workload && w.spec.signal === "CrashLoopBackOff")?.status
    ?.count;
}

/** A promise that never settles: a request to a process that died. */
const hang = <T>(): Promise<T> => new Promise<T>(() => {});

/** The journal store as a replica sees it, whose requests never answer once `dead()` says so. */
function dyingStore(dead: () => boolean, onPut?: () => void): JournalStore {
  return {
    list: () => (dead() ? hang() : store.list()),
    get: (n) => (dead() ? hang() : store.get(n)),
    put: async (...a) => {
      if (dead()) return hang();
      const stored = await store.put(...a);
      onPut?.();
      return stored;
    },
    delete: (...a) => (dead() ? hang() : store.delete(...a)),
  };
}

/** A replica whose API requests never answer from now on: what a SIGKILL leaves behind. */
function killable(journalName: string) {
  let dead = false;
  const real = kubeCrClient(cluster.kubeConfig);
  const client = {
    get: (...a: Parameters<typeof real.get>) => (dead ? hang<never>() : real.get(...a)),
    apply: (...a: Parameters<typeof real.apply>) => (dead ? hang<never>() : real.apply(...a)),
    applyStatus: (...a: Parameters<typeof real.applyStatus>) =>
      dead ? hang<never>() : real.applyStatus(...a),
  };
  const journalStore = dyingStore(() => dead);
  const pipeline = testPipeline(cluster.kubeConfig, { settings: HELD_BACK, client });
  pipeline.start();
  const journal = pipeline.startJournal({
    store: journalStore,
    name: journalName,
    lease: `lease-of-${journalName}`,
    alive: () => true,
    orphanCheckMs: 60_000,
  });
  return {
    pipeline,
    journal,
    kill() {
      dead = true;
    },
  };
}

it("a crash-loop batch is acked once the journal holds it, while its whisper write waits for the interval", async () => {
  const name = "kernel-gossip-aggregator-journal-ack";
  const pipeline = testPipeline(cluster.kubeConfig, { settings: HELD_BACK, stopDeadlineMs: 10_000 });
  pipeline.start();
  const journal = pipeline.startJournal({
    store,
    name,
    lease: "lease-ack",
    alive: () => true,
    orphanCheckMs: 60_000,
  });
  const ctx = (seq: number) => ({ ...CTX, instance: "i-ack", seq });
  const p = { ...pod(1), labels: { "workload-id": "ack" } };
  // The whisper's first write is due at once; its next one is 10 minutes away.
  await pipeline.handleBatch(ctx(1), [crashLoop(p, "app", 1)]);
  await vi.waitFor(async () => expect(await whisperCount("ack")).toBe(1));

  expect(await pipeline.handleBatch(ctx(2), [crashLoop(p, "app", 2)])).toEqual({ dropped: 0 });
  // Acked, not written: the whisper still shows 1; the journal holds batch 2 of agent i-ack.
  expect(pipeline.writer.pending).toBe(1);
  expect(await whisperCount("ack")).toBe(1);
  const stored = await store.get(name);
  const { records } = decodeJournal(stored?.data && gunzipSync(stored.data).toString("utf8"));
  expect(records.map((r) => `${r.tag.agent}#${r.tag.seq}`)).toEqual(["node-1/i-ack#2"]);
  expect(records[0]?.occurrences).toEqual([
    { pod: expect.objectContaining({ uid: p.uid, name: p.name, node: "node-1" }), count: 1 },
  ]);
  expect(journal.entries).toBe(1);

  // The drain writes the whisper; the entry leaves; the empty journal is deleted.
  await pipeline.stop();
  expect(await whisperCount("ack")).toBe(2);
  expect(journal.entries).toBe(0);
  expect(await store.get(name)).toBeUndefined();
});

it("a replica killed after the ack and before the whisper write: restarted, it replays its journal and counts exactly", async () => {
  const name = "kernel-gossip-aggregator-journal-restart";
  const p = { ...pod(2), labels: { "workload-id": "restart" } };
  const ctx = (seq: number) => ({ ...CTX, instance: "i-restart", seq });
  const first = killable(name);
  await first.pipeline.handleBatch(ctx(1), [crashLoop(p, "app", 1)]);
  await vi.waitFor(async () => expect(await whisperCount("restart")).toBe(1));
  for (let seq = 2; seq <= 6; seq++) {
    expect(await first.pipeline.handleBatch(ctx(seq), [crashLoop(p, "app", seq)])).toEqual({ dropped: 0 });
  }
  expect(await whisperCount("restart")).toBe(1);
  expect(first.journal.entries).toBe(5);
  first.kill();

  // The same replica again (same journal): the 5 acked changes are replayed and written at once.
  const again = testPipeline(cluster.kubeConfig, { settings: HELD_BACK });
  again.start();
  again.startJournal({ store, name, lease: "lease-restart", alive: () => true, orphanCheckMs: 60_000 });
  await vi.waitFor(async () => expect(await whisperCount("restart")).toBe(6), { timeout: 20_000 });
  // The agent resends batch 6 (its ack was lost with the connection): counted once.
  const resend = again.handleBatch(ctx(6), [crashLoop(p, "app", 6)]);
  await again.stop();
  expect(await resend).toEqual({ dropped: 1 });
  expect(await whisperCount("restart")).toBe(6);
  expect(await store.get(name)).toBeUndefined();
});

it("an orphaned journal is replayed by another replica and deleted; replayed again by its own replica, it counts once", async () => {
  const name = "kernel-gossip-aggregator-journal-orphan";
  const p = { ...pod(3), labels: { "workload-id": "orphan" } };
  const ctx = (seq: number) => ({ ...CTX, instance: "i-orphan", seq });
  const dead = killable(name);
  await dead.pipeline.handleBatch(ctx(1), [crashLoop(p, "app", 1)]);
  await vi.waitFor(async () => expect(await whisperCount("orphan")).toBe(1));
  for (let seq = 2; seq <= 9; seq++) await dead.pipeline.handleBatch(ctx(seq), [crashLoop(p, "app", seq)]);
  expect(await whisperCount("orphan")).toBe(1);
  dead.kill();
  const left = await store.get(name);
  expect(left).toBeDefined();

  const replayed = async (m: ReturnType<typeof createPipelineMetrics>, origin: string) =>
    (await m.journalReplayed.get()).values.find((v) => v.labels.origin === origin)?.value;
  // Another replica whose judge says the dead one's Lease expired: it takes the journal for
  // orphaned once it stayed unchanged for a check interval, replays it, and deletes it.
  const otherMetrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const other = testPipeline(cluster.kubeConfig, { settings: HELD_BACK, metrics: otherMetrics });
  other.start();
  other.startJournal({
    store,
    name: "kernel-gossip-aggregator-journal-other",
    lease: "lease-other",
    alive: (lease) => lease !== "lease-of-kernel-gossip-aggregator-journal-orphan",
    orphanCheckMs: 200,
  });
  await vi.waitFor(async () => expect(await replayed(otherMetrics, "orphan")).toBe(8), { timeout: 20_000 });
  await vi.waitFor(async () => expect(await whisperCount("orphan")).toBe(9), { timeout: 20_000 });
  await vi.waitFor(async () => expect(await store.get(name)).toBeUndefined(), { timeout: 20_000 });

  // The same journal once more (a replay that raced the deletion): its replica restarted replays
  // all 8 again; the whisper's delivery ledger holds them, nothing is counted twice.
  await store.put(name, "lease-orphan", left?.data as Buffer, undefined);
  const ownerMetrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const owner = testPipeline(cluster.kubeConfig, { settings: HELD_BACK, metrics: ownerMetrics });
  owner.start();
  const ownerJournal = owner.startJournal({
    store,
    name,
    lease: "lease-orphan",
    alive: () => true,
    orphanCheckMs: 60_000,
  });
  await vi.waitFor(async () => expect(await replayed(ownerMetrics, "own")).toBe(8));
  await vi.waitFor(() => expect(ownerJournal.entries).toBe(0), { timeout: 20_000 });
  await Promise.all([owner.stop(), other.stop()]);
  expect(await whisperCount("orphan")).toBe(9);
  const journals = (await store.list()).filter(
    (j) => j.name.endsWith("-orphan") || j.name.endsWith("-other"),
  );
  expect(journals).toEqual([]);
});

it("a replica whose Lease looks stale but whose journal keeps changing is not taken for orphaned; once its journal goes quiet, it is", async () => {
  const name = "kernel-gossip-aggregator-journal-busy";
  const p = { ...pod(4), labels: { "workload-id": "busy" } };
  const ctx = (seq: number) => ({ ...CTX, instance: "i-busy", seq });
  const busy = killable(name);
  await busy.pipeline.handleBatch(ctx(1), [crashLoop(p, "app", 1)]);
  await vi.waitFor(async () => expect(await whisperCount("busy")).toBe(1));

  // The judge says the busy replica's Lease expired (a renewal late under load) — but its
  // journal changes with every batch it acks.
  let checks = 0;
  const counting: JournalStore = {
    ...store,
    list: () => {
      checks++;
      return store.list();
    },
  };
  const judgeMetrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const judge = testPipeline(cluster.kubeConfig, { settings: HELD_BACK, metrics: judgeMetrics });
  judge.start();
  judge.startJournal({
    store: counting,
    name: "kernel-gossip-aggregator-journal-judge",
    lease: "lease-judge",
    alive: (lease) => lease !== "lease-of-kernel-gossip-aggregator-journal-busy",
    orphanCheckMs: 500,
  });
  const orphanReplays = async () =>
    (await judgeMetrics.journalReplayed.get()).values.find((v) => v.labels.origin === "orphan")?.value ?? 0;
  // Twice the quiet time (4 checks) and more, with the busy replica acking all along.
  let seq = 2;
  while (checks < 10) await busy.pipeline.handleBatch(ctx(seq), [crashLoop(p, "app", seq++)]);
  expect(await orphanReplays()).toBe(0);

  // Killed: its journal stops changing, and after 4 quiet checks the judge replays it.
  busy.kill();
  const acked = seq - 2;
  await vi.waitFor(async () => expect(await orphanReplays()).toBe(acked), { timeout: 30_000 });
  await vi.waitFor(async () => expect(await whisperCount("busy")).toBe(seq - 1), { timeout: 20_000 });
  await judge.stop();
  expect(await whisperCount("busy")).toBe(seq - 1);
});

it("a change that does not fit in --journal-max-bytes waits for its whisper write", async () => {
  const name = "kernel-gossip-aggregator-journal-full";
  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const pipeline = testPipeline(cluster.kubeConfig, {
    settings: { ...HELD_BACK, journalMaxBytes: 4096 },
    stopDeadlineMs: 10_000,
    metrics,
  });
  pipeline.start();
  const journal = pipeline.startJournal({
    store,
    name,
    lease: "lease-full",
    alive: () => true,
    orphanCheckMs: 60_000,
  });
  const ctx = (seq: number) => ({ ...CTX, instance: "i-full", seq });
  const pods = Array.from({ length: 30 }, (_, i) => ({ ...pod(100 + i), labels: { "workload-id": "full" } }));
  await pipeline.handleBatch(ctx(1), [crashLoop(pods[0] as (typeof pods)[0], "app", 1)]);
  await vi.waitFor(async () => expect(await whisperCount("full")).toBe(1));

  // Small: journaled and acked. Thirty pods at once: too big for 4 KiB, waits for the write.
  expect(await pipeline.handleBatch(ctx(2), [crashLoop(pods[0] as (typeof pods)[0], "app", 2)])).toEqual({
    dropped: 0,
  });
  let bigAcked = false;
  const big = pipeline
    .handleBatch(
      ctx(3),
      pods.map((p, i) => crashLoop(p, "app", 10 + i)),
    )
    .then((r) => {
      bigAcked = true;
      return r;
    });
  await vi.waitFor(async () => expect((await metrics.journalFallbacks.get()).values[0]?.value).toBe(1));
  expect(journal.entries).toBe(1);
  expect(bigAcked).toBe(false);
  expect(await whisperCount("full")).toBe(1);

  await pipeline.stop();
  expect(await big).toEqual({ dropped: 0 });
  expect(await whisperCount("full")).toBe(32);
});

it("a change written to its whisper just before its replica died, whose batch the ledger then forgot (more than 64 agents), is not counted again when its journal is replayed", async () => {
  const name = "kernel-gossip-aggregator-journal-marks";
  const lease = `lease-of-${name}`;
  const p = { ...pod(5), labels: { "workload-id": "marks" } };
  // Replica A dies right after its journal's first write landed: the journal keeps the change
  // although A then writes it to its whisper (the release would be its next journal write).
  let journalDead = false;
  const dying = dyingStore(
    () => journalDead,
    () => {
      journalDead = true;
    },
  );
  const a = testPipeline(cluster.kubeConfig, {
    settings: { ...HELD_BACK, objectMinInterval: 1_000 },
  });
  a.start();
  a.startJournal({ store: dying, name, lease, alive: () => true, orphanCheckMs: 60_000 });
  const ctxA = (seq: number) => ({ ...CTX, instance: "i-a", seq });
  // The first write in a namespace this replica has not seen waits for the whisper (not journaled).
  await a.handleBatch(ctxA(1), [crashLoop(p, "app", 1)]);
  // Acked from the journal; written to the whisper a second later.
  expect(await a.handleBatch(ctxA(2), [crashLoop(p, "app", 2)])).toEqual({ dropped: 0 });
  expect(journalDead).toBe(true);
  await vi.waitFor(async () => expect(await whisperCount("marks")).toBe(2), { timeout: 20_000 });
  const left = decodeJournal(gunzipSync((await store.get(name))?.data as Buffer).toString("utf8"));
  expect(left.records.map((r) => `${r.tag.agent}#${r.tag.seq}`)).toEqual(["node-1/i-a#2"]);
  const marked = (await getJson(cluster, "kernelwhispers", NS)).find((w) => w.spec.workload.name === "marks");
  expect(marked?.status.journals?.[name]).toBe(left.records[0]?.mark);

  // Replica B: 65 other agents' crash loops on the same whisper, one write: the ledger keeps
  // 64 agents, least recently updated dropped first — agent i-a is forgotten.
  const b = testPipeline(cluster.kubeConfig, { settings: { ...HELD_BACK, objectMinInterval: 100 } });
  b.start();
  const acks = [];
  for (let k = 0; k < 65; k++) {
    acks.push(b.handleBatch({ ...CTX, instance: `i-${k}`, seq: 1 }, [crashLoop(p, "app", 100 + k)]));
  }
  await Promise.all(acks);
  await vi.waitFor(async () => expect(await whisperCount("marks")).toBe(67), { timeout: 20_000 });
  const whisper = (await getJson(cluster, "kernelwhispers", NS)).find(
    (w) => w.spec.workload.name === "marks",
  );
  expect(whisper?.status.deliveries.map((d: { agent: string }) => d.agent)).not.toContain("node-1/i-a");

  // B takes A's journal for orphaned and replays it: the whisper's mark for A's journal holds
  // the change, so it is not counted again; the journal is deleted once that is settled.
  const bMetrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const b2 = testPipeline(cluster.kubeConfig, {
    settings: { ...HELD_BACK, objectMinInterval: 100 },
    metrics: bMetrics,
  });
  b2.start();
  b2.startJournal({
    store,
    name: "kernel-gossip-aggregator-journal-marks-b",
    lease: "lease-marks-b",
    alive: (l) => l !== lease,
    orphanCheckMs: 200,
  });
  await vi.waitFor(async () => expect(await store.get(name)).toBeUndefined(), { timeout: 20_000 });
  const replayed = (await bMetrics.journalReplayed.get()).values.find((v) => v.labels.origin === "orphan");
  expect(replayed?.value).toBe(1);
  await Promise.all([b.stop(), b2.stop()]);
  expect(await whisperCount("marks")).toBe(67);
}, 40_000);
