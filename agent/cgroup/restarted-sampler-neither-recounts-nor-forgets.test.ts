// Issue 15 finding 8: what a restarted agent's sampler does with what it finds and what the
// spool remembers (agent/spool, ADR 0013), on a fixture cgroup tree and a manual clock.
import { afterEach, expect, it } from "vitest";
import { OomSource, ThrottleState } from "../../shared/proto.ts";
import { SpoolMemory } from "../spool/memory.ts";
import { makePod, podView } from "./testing/build.ts";
import { type Harness, harness } from "./testing/harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function scans(x: Harness): Promise<number> {
  return (
    (await x.metrics.scanDuration.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0
  );
}

it("does not scan before the pod list arrived, so a running container's old OOM kills are a baseline, not new kills", async () => {
  let listed = false;
  // Each time the sampler's timer decides, it asks whether the pods are listed: that question is
  // what the test waits on (a sampler that scanned anyway would not ask, or would be busy).
  let asked = 0;
  const x = await harness(
    { version: 2, driver: "systemd" },
    {
      ready: () => {
        asked++;
        return listed;
      },
    },
  );
  h = x;
  const pod = makePod("Burstable", "containerd", ["app"]);
  await h.fixture.addPod(pod);
  const c = pod.containers[0];
  await h.fixture.writeOomKills(pod, c, 3);
  h.sampler.start();
  // Not listed yet: however long that takes, no scan runs (the directory would look empty).
  for (let i = 1; i <= 10; i++) {
    h.clock.advance(10_000);
    await expect.poll(() => asked).toBeGreaterThanOrEqual(i);
  }
  expect(await scans(h)).toBe(0);
  h.pods.set(podView(pod));
  listed = true;
  h.clock.advance(200);
  await expect.poll(() => scans(x)).toBe(1);
  h.clock.advance(10_000);
  await expect.poll(() => scans(x)).toBe(2);
  expect(h.sink.events.filter((e) => e.oom)).toEqual([]);
  // A real kill after that is one kill.
  await h.fixture.writeOomKills(pod, c, 4);
  h.clock.advance(10_000);
  await expect.poll(() => scans(x)).toBe(3);
  expect(h.sink.events.filter((e) => e.oom).map((e) => e.oom?.kills)).toEqual([1]);
});

it("takes the counter value the spool says was reported as the baseline: kills made while the agent was down are reported, older ones not", async () => {
  const pod = makePod("Burstable", "containerd", ["app"]);
  const c = pod.containers[0];
  const memory = new SpoolMemory();
  // The earlier run reported the container instance's kill up to counter value 5.
  memory.fold([
    {
      id: `${pod.uid}/app/${c?.id.slice(0, 12)}/oom-kill/5`,
      pod: podView(pod).ref,
      container: "app",
      oom: { source: OomSource.OOM_SOURCE_KERNEL, kills: 1 },
    },
  ]);
  h = await harness({ version: 2, driver: "systemd" }, { recall: memory });
  await h.fixture.addPod(pod);
  await h.fixture.writeOomKills(pod, c, 7); // two more while the agent was down
  h.pods.set(podView(pod));
  await h.sampler.scanOnce();
  await h.sampler.scanOnce();
  const ooms = h.sink.events.filter((e) => e.oom);
  expect(ooms.map((e) => [e.oom?.kills, e.id?.split("/").pop()])).toEqual([[2, "7"]]);
});

it("continues a throttling episode the spool remembers as open instead of opening a second one, and resolves one whose container is gone", async () => {
  const pod = makePod("Burstable", "containerd", ["app"]);
  const gone = makePod("Burstable", "containerd", ["old"]);
  const memory = new SpoolMemory();
  const step = (p: typeof pod, container: string, state: number, id: string) => ({
    id: `${p.uid}/${container}/cpu-throttle/1000/${id}`,
    pod: podView(p).ref,
    container,
    throttle: { state, limitCores: 0.5 },
  });
  memory.fold([
    step(pod, "app", ThrottleState.THROTTLE_STATE_OPEN, "open/0"),
    step(pod, "app", ThrottleState.THROTTLE_STATE_UPDATE, "update/3"),
    step(gone, "old", ThrottleState.THROTTLE_STATE_OPEN, "open/0"),
  ]);
  h = await harness(
    { version: 2, driver: "systemd" },
    { recall: memory, settings: { updateIntervalMs: 10_000 } },
  );
  await h.fixture.addPod(pod);
  const c = pod.containers[0];
  await h.fixture.writeLimit(pod, c, 0.5);
  h.pods.set(podView(pod));
  // Still throttled hard: 90 % of periods, every scan.
  let periods = 0;
  for (let i = 0; i < 4; i++) {
    periods += 100;
    await h.fixture.writeCpu(pod, c, {
      periods,
      throttled: periods * 0.9,
      throttledSeconds: periods * 0.05,
      usageSeconds: periods * 0.05,
    });
    await h.sampler.scanOnce();
    h.clock.advance(10_000);
  }
  const throttle = h.sink.events.filter((e) => e.throttle);
  expect(throttle.filter((e) => e.throttle?.state === ThrottleState.THROTTLE_STATE_OPEN)).toEqual([]);
  const resolvedGone = throttle.find((e) => e.container === "old");
  expect(resolvedGone?.id).toBe(`${gone.uid}/old/cpu-throttle/1000/resolved/1`);
  // The continued episodes keep their name (when they opened, before the restart).
  expect(throttle.map((e) => e.throttle?.episodeOpenedAtMs)).toEqual(throttle.map(() => 1000));
  const updates = throttle
    .filter((e) => e.container === "app")
    .map((e) => e.id?.split("/").slice(-2).join("/"));
  expect(updates.length).toBeGreaterThan(0);
  expect(updates[0]).toBe("update/4");
  expect(
    throttle.some(
      (e) => e.container === "app" && e.throttle?.state === ThrottleState.THROTTLE_STATE_RESOLVED,
    ),
  ).toBe(false);
});
