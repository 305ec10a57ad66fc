// An agent restart (DaemonSet rollout, crash) must not open a MemoryPressure episode twice:
// the spool remembers the open episode (agent/spool/memory.ts), the restarted sampler
// continues it — its steps keep the episode's id and count nothing new — or resolves it when
// the container is gone, and a later OOM kill still links to it.
import { afterEach, expect, it } from "vitest";
import { ThrottleState } from "../../shared/proto.ts";
import { SpoolMemory } from "../spool/memory.ts";
import { makePod, podView } from "./testing/build.ts";
import { type Harness, harness } from "./testing/harness.ts";

const MiB = 1024 * 1024;
const LIMIT = 256 * MiB;
const MEMORY = { windowMs: 20_000, resolveAfterMs: 20_000, updateIntervalMs: 30_000 };
const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

async function firstRun() {
  const h = await harness({ version: 2, driver: "systemd" }, { memory: MEMORY });
  open.push(h);
  const pod = makePod("Burstable", "containerd", ["api"]);
  await h.fixture.addPod(pod);
  h.pods.set(podView(pod));
  await h.fixture.writeMemoryUsage(pod, pod.containers[0], {
    usage: 250 * MiB,
    inactiveFile: 0,
    limit: LIMIT,
  });
  for (let i = 0; i < 2; i++) {
    h.clock.advance(10_000);
    await h.sampler.scanOnce();
  }
  const opened = h.sink.events.find((e) => e.memory?.state === ThrottleState.THROTTLE_STATE_OPEN);
  expect(opened).toBeDefined();
  const spool = new SpoolMemory();
  spool.fold(h.sink.events);
  return { pod, opened, spool };
}

it("a restarted agent continues the open episode: same id, no second open, and an OOM kill links to it", async () => {
  const { pod, opened, spool } = await firstRun();
  const h = await harness({ version: 2, driver: "systemd" }, { memory: MEMORY, recall: spool });
  open.push(h);
  await h.fixture.addPod(pod);
  h.pods.set(podView(pod));
  await h.fixture.writeMemoryUsage(pod, pod.containers[0], {
    usage: 250 * MiB,
    inactiveFile: 0,
    limit: LIMIT,
  });
  for (let i = 0; i < 4; i++) {
    h.clock.advance(10_000);
    await h.sampler.scanOnce();
  }
  const steps = h.sink.events.filter((e) => e.memory);
  expect(steps.map((e) => e.memory?.state)).toEqual([ThrottleState.THROTTLE_STATE_UPDATE]);
  expect(steps[0]?.id).toBe(opened?.id?.replace("/open/0", "/update/1"));
  expect(steps[0]?.memory?.openedAtMs).toBe(opened?.memory?.openedAtMs);
  // The kubelet's OOMKilled for this container links to the episode the earlier run opened.
  expect(h.sampler.pressureBefore(pod.uid, "api", Date.now() + 60_000)).toMatchObject({
    openedAtMs: opened?.memory?.openedAtMs,
    resolvedAtMs: 0,
    limitBytes: LIMIT,
  });
});

it("a restarted agent resolves the remembered episode when its container is gone", async () => {
  const { opened, spool } = await firstRun();
  const h = await harness({ version: 2, driver: "systemd" }, { memory: MEMORY, recall: spool });
  open.push(h);
  h.clock.advance(10_000);
  await h.sampler.scanOnce();
  const steps = h.sink.events.filter((e) => e.memory);
  expect(steps).toHaveLength(1);
  expect(steps[0]?.id).toBe(opened?.id?.replace("/open/0", "/resolved/1"));
  expect(steps[0]?.memory).toMatchObject({ limitBytes: LIMIT, workingSetPeakBytes: 250 * MiB, triggers: [] });
  h.clock.advance(10_000);
  await h.sampler.scanOnce();
  expect(h.sink.events.filter((e) => e.memory)).toHaveLength(1);
});
