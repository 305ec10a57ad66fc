// Idle eviction (write-eviction.ts): the CR writer forgets an object with nothing to write that
// was not changed for idleEvictMs, at the first look after that (it looks every half of it);
// an object with a change waiting, or changed since, is kept. A forgotten object is read again
// from the API server on its next change, so what another replica wrote meanwhile is the
// baseline: forgetting loses nothing. On a ManualClock against the local API server; which
// objects the writer holds is what it answers for a copy of them (observed: "not_held" for an
// object it does not hold), how many its size and the whispers gauge (pending_objects counts
// only objects with a change waiting, which eviction never touches).
import { afterAll, beforeAll, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { TokenBucket } from "../../shared/token-bucket.ts";
import { createPipelineMetrics } from "../pipeline/metrics.ts";
import { getJson, startTestCluster, type TestCluster } from "../pipeline/testing.ts";
import { kubeCrClient } from "./kube.ts";
import { testWhisper, throttlingOccurrence } from "./testing.ts";
import { CrWriter, type WriteOutcome } from "./writer.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster();
  await cluster.kubectl("create", "namespace", "w");
}, 60_000);
afterAll(async () => cluster?.close());

const IDLE_EVICT_MS = 60_000; // looked at every 30 s: at 30, 60, 90, 120 s after start

it("an object idle for idleEvictMs is forgotten at the next look, one changed since or with a change waiting is kept, and a forgotten one is read again on its next change", async () => {
  const clock = new ManualClock(Date.now());
  const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
  const writer = new CrWriter({
    client: kubeCrClient(cluster.kubeConfig),
    clock,
    log: silentLogger(),
    metrics,
    bucket: new TokenBucket({ rate: 100, burst: 100, clock }),
    minIntervalMs: 100_000, // a change that is not an escalation waits this long after a write
    idleEvictMs: IDLE_EVICT_MS,
  });
  writer.start();

  const whisper = testWhisper;
  /** One throttling sample of `workload` (counted once); the outcome of the write carrying it. */
  const sample = (workload: string, ratio: number): Promise<WriteOutcome> =>
    new Promise((resolve, reject) =>
      writer.submit(
        `KernelWhisper/w/${whisper(workload).name}`, // the key the watch's copies are held under
        () => whisper(workload),
        (w) =>
          w.recordBatch(undefined, [throttlingOccurrence({ at: clock.now(), ratio, count: 1 })]).escalate,
        { resolve, reject },
      ),
    );
  const whispers = async () => {
    const all = await getJson(cluster, "kw", "w");
    return new Map(all.map((o) => [o.spec.workload.name as string, o]));
  };
  /** Which of the workloads' whispers the writer holds, read from the API server now. */
  const held = async () => {
    const held: string[] = [];
    for (const [workload, object] of await whispers()) {
      if (writer.observed(object) !== "not_held") held.push(workload);
    }
    return held.sort();
  };
  const whispersGauge = async () => (await metrics.whispers.get()).values.reduce((n, v) => n + v.value, 0);
  const gets = () => cluster.api.counters.get("get", "kernelwhispers");
  const conflicts = async () =>
    (await metrics.crWrites.get()).values.find((v) => v.labels.outcome === "conflict")?.value ?? 0;

  // 0 s: three whispers written (a first write is due at once).
  const first = ["idle", "touched", "dirty"].map((w) => sample(w, 0.55));
  clock.advance(0);
  expect(await Promise.all(first)).toEqual(["written", "written", "written"]);
  expect(await held()).toEqual(["dirty", "idle", "touched"]);

  // 20 s: "dirty" changes again; not an escalation, so its write waits until 100 s.
  clock.advance(20_000);
  const dirtyWrite = sample("dirty", 0.55);
  clock.advance(0);
  await writer.settled();
  expect(writer.pending).toBe(1);

  // 45 s: "touched" escalates (critical): written at once, nothing left to write.
  clock.advance(25_000);
  const touched = sample("touched", 0.95);
  clock.advance(0);
  expect(await touched).toBe("written");
  expect(writer.pending).toBe(1);

  // Just before 90 s: "idle" has been untouched for longer than idleEvictMs since 60 s, but
  // the look at 60 s found it idle for exactly idleEvictMs, not longer: all three are held.
  clock.advance(90_000 - 1 - 45_000);
  expect(await held()).toEqual(["dirty", "idle", "touched"]);
  expect(writer.size).toBe(3);
  expect(await whispersGauge()).toBe(3);

  // 90 s, the first look after 60 s idle: "idle" is forgotten. "touched" (changed 45 s ago)
  // is kept; so is "dirty", last changed 70 s ago, because its change is not written yet.
  clock.advance(1);
  expect(await held()).toEqual(["dirty", "touched"]);
  expect(writer.size).toBe(2);
  expect(await whispersGauge()).toBe(2);
  expect(writer.pending).toBe(1);

  // While forgotten, another replica counts 40 more: status.count 1 -> 41.
  const idle = (await whispers()).get("idle");
  expect(idle?.status.count).toBe(1);
  await cluster.kubectl(
    "patch",
    "kernelwhispers",
    idle?.metadata.name,
    "-n",
    "w",
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { count: 41 } }),
  );
  // Its next change reads it again (one GET, no conflict with a stale copy) and counts on
  // from 41: nothing another replica wrote is lost by forgetting.
  const getsBefore = gets();
  const conflictsBefore = await conflicts();
  const again = sample("idle", 0.55);
  clock.advance(0);
  expect(await again).toBe("written");
  expect(gets() - getsBefore).toBe(1);
  expect(await conflicts()).toBe(conflictsBefore);
  expect((await whispers()).get("idle")?.status.count).toBe(42);
  expect(await held()).toEqual(["dirty", "idle", "touched"]);

  // 100 s: "dirty" is written (count 2). 120 s: the next look forgets "touched" (75 s since its
  // change) and "dirty" (written, changed 100 s ago); "idle", changed 30 s ago, is kept.
  clock.advance(10_000);
  expect(await dirtyWrite).toBe("written");
  expect((await whispers()).get("dirty")?.status.count).toBe(2);
  clock.advance(20_000);
  expect(await held()).toEqual(["idle"]);
  expect(writer.size).toBe(1);
  expect(await whispersGauge()).toBe(1);
  await writer.stop(0);
}, 60_000);
