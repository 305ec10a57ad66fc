import { writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { Actor, type WireEvent } from "../../shared/proto.ts";
import { makePod } from "../cgroup/testing/build.ts";
import { type Harness, harness } from "../cgroup/testing/harness.ts";
import type { KernelStatsSource } from "../types/index.ts";
import { BirthRecorder } from "./births.ts";
import { type PodFacts, toPodFacts } from "./facts.ts";
import { createPodsMetrics } from "./metrics.ts";
import { containerStatus, type Json, podStatus, running, waiting } from "./testing/kubelet.ts";
import { NODE, podObject } from "./testing/pods.ts";

const AT = Date.UTC(2026, 0, 1, 12);
const S = 1_000;
const spec = {
  restartPolicy: "Always",
  containers: [{ name: "app", image: "registry.example/shop/app:1.4.2" }],
};

let cgroups: Harness | undefined;
afterEach(async () => {
  await cgroups?.close();
  cgroups = undefined;
});

function recorder(stats?: KernelStatsSource) {
  const events: WireEvent[] = [];
  const registry = createRegistry({ defaultMetrics: false });
  const metrics = createPodsMetrics(registry);
  const births = new BirthRecorder({
    clock: new ManualClock(AT + 10 * S),
    sink: { emit: (e) => events.push(e) },
    metrics,
    log: silentLogger(),
    stats,
  });
  const outcome = async (o: string) =>
    (await registry.getMetricsAsJSON())
      .find((m) => m.name === "kernel_gossip_agent_births_total")
      ?.values.find((v) => v.labels.outcome === o)?.value ?? 0;
  return { births, events, outcome };
}

function feed(births: BirthRecorder, sequence: PodFacts[]): void {
  let prev: PodFacts | undefined;
  for (const next of sequence) {
    births.observe(prev, next);
    prev = next;
  }
}

const facts = (status: Json, uid = "uid-born", containerSpec = spec) =>
  toPodFacts(podObject("born", containerSpec, status, { uid, createdAtMs: AT }), NODE);

const pending = (id?: string) =>
  podStatus({
    phase: "Pending",
    createdAtMs: AT,
    scheduledAtMs: AT + S,
    initializedAtMs: AT + 2 * S,
    containerStatuses: [
      containerStatus({ name: "app", state: waiting("ContainerCreating"), restartCount: 0, id }),
    ],
  });

const ready = (id: string) =>
  podStatus({
    phase: "Running",
    createdAtMs: AT,
    scheduledAtMs: AT + S,
    initializedAtMs: AT + 2 * S,
    readyAtMs: AT + 4 * S,
    containerStatuses: [
      containerStatus({
        name: "app",
        state: running(AT + 3 * S),
        restartCount: 0,
        ready: true,
        started: true,
        id,
      }),
    ],
  });

describe("birth certificates", () => {
  it("records the timeline, the actors and the kernel's figures read from the pod's cgroup", async () => {
    cgroups = await harness({ version: 2, driver: "systemd" });
    const pod = makePod("Burstable", "containerd", ["app"]);
    await cgroups.fixture.addPod(pod);
    await cgroups.fixture.writeCpu(pod, undefined, {
      periods: 40,
      throttled: 7,
      throttledSeconds: 0.3,
      usageSeconds: 1.25,
    });
    await cgroups.fixture.writeMemory(pod, undefined, { peak: 48 * 1024 * 1024 });
    await writeFile(cgroups.fixture.path(pod, undefined, "pids.current"), "3\n");
    const id = `containerd://${pod.containers[0]?.id}`;
    const { births, events, outcome } = recorder(cgroups.sampler);
    feed(births, [facts(pending(), pod.uid), facts(ready(id), pod.uid), facts(ready(id), pod.uid)]);
    await births.idle();
    expect(events).toHaveLength(1);
    const e = events[0] as WireEvent;
    expect(e.id).toBe(`${pod.uid}/birth`);
    expect(e.birth?.ready).toBe(true);
    expect(e.birth?.steps?.map((s) => [s.name, s.actor, s.durationMs, s.container])).toEqual([
      ["created", Actor.ACTOR_API_SERVER, 0, ""],
      ["scheduled", Actor.ACTOR_SCHEDULER, 1_000, ""],
      ["sandbox-ready", Actor.ACTOR_RUNTIME, 1_000, ""],
      ["initialized", Actor.ACTOR_KUBELET, 0, ""],
      ["container-started", Actor.ACTOR_RUNTIME, 1_000, "app"],
      ["ready", Actor.ACTOR_KUBELET, 1_000, ""],
    ]);
    expect(e.birth?.totalMs).toBe(4_000);
    expect(e.birth?.createdAtMs).toBe(AT);
    expect(e.birth?.cpuSeconds).toBeCloseTo(1.25);
    expect(e.birth?.throttledPeriods).toBe(7);
    expect(e.birth?.memoryPeakBytes).toBe(48 * 1024 * 1024);
    expect(e.birth?.processCount).toBe(3);
    expect(await outcome("ready")).toBe(1);
  });

  it("gives none to a pod that was already running when the agent started", async () => {
    const { births, events } = recorder();
    const id = "containerd://aa";
    const notReadyAgain = podStatus({
      phase: "Running",
      createdAtMs: AT,
      scheduledAtMs: AT + S,
      initializedAtMs: AT + 2 * S,
      changedAtMs: AT + 3_600 * S, // lost readiness an hour after it started
      containerStatuses: [containerStatus({ name: "app", state: running(AT + 3 * S), restartCount: 0, id })],
    });
    feed(births, [
      facts(ready(id), "running-at-start"),
      facts(notReadyAgain, "running-at-start"),
      facts(ready(id), "running-at-start"),
    ]);
    feed(births, [facts(notReadyAgain, "lost-readiness"), facts(ready(id), "lost-readiness")]);
    const looping = podStatus({
      phase: "Running",
      createdAtMs: AT,
      scheduledAtMs: AT + S,
      initializedAtMs: AT + 2 * S,
      containerStatuses: [
        containerStatus({
          name: "app",
          state: waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=app"),
          restartCount: 9,
        }),
      ],
    });
    feed(births, [facts(looping, "crash-looping-at-start"), facts(ready(id), "crash-looping-at-start")]);
    await births.idle();
    expect(events).toEqual([]);
    expect(births.pending).toBe(0);
  });

  it("records a pod that fails to start, once, with the reason and the failing step", async () => {
    const { births, events, outcome } = recorder();
    const pull = podStatus({
      phase: "Pending",
      createdAtMs: AT,
      scheduledAtMs: AT + S,
      initializedAtMs: AT + 2 * S,
      containerStatuses: [
        containerStatus({
          name: "app",
          state: waiting("ImagePullBackOff", 'Back-off pulling image "x"'),
          restartCount: 0,
        }),
      ],
    });
    feed(births, [facts(pending()), facts(pull), facts(pull), facts(ready("containerd://bb"))]);
    await births.idle();
    expect(events).toHaveLength(1);
    expect(events[0]?.birth).toMatchObject({
      ready: false,
      failureReason: "ImagePullBackOff",
      cpuSeconds: 0,
    });
    expect(events[0]?.birth?.steps?.at(-1)).toMatchObject({
      name: "failed",
      actor: Actor.ACTOR_KUBELET,
      atMs: AT + 10 * S,
    });
    expect(await outcome("failed")).toBe(1);
  });

  it("forgets a pod deleted before it was ready, and certifies a new incarnation on its own", async () => {
    const { births, events } = recorder();
    births.observe(undefined, facts(pending(), "first"));
    births.observe(facts(pending(), "first"), undefined);
    expect(births.pending).toBe(0);
    feed(births, [facts(pending(), "second"), facts(ready("containerd://cc"), "second")]);
    await births.idle();
    expect(events.map((e) => e.id)).toEqual(["second/birth"]);
  });
});
