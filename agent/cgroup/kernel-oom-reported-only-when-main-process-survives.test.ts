import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OomSource, wire } from "../../shared/proto.ts";
import { type FixturePod, hexId, makePod, podView } from "./fixtures/build.ts";
import { type Harness, harness, samples } from "./fixtures/harness.ts";

describe.each([
  { version: 2 as const, driver: "systemd" as const },
  { version: 1 as const, driver: "cgroupfs" as const, v1Cpu: "separate" as const },
])("kernel OOM kills on v$version/$driver", (options) => {
  let h: Harness;
  let pod: FixturePod;
  const container = () => {
    const c = pod.containers[0];
    if (!c) throw new Error("no container");
    return c;
  };
  const scan = async () => {
    h.clock.advance(10_000);
    return h.sampler.scanOnce();
  };

  beforeEach(async () => {
    h = await harness(options);
    pod = makePod("Burstable", "crio", ["worker"]);
    await h.fixture.addPod(pod);
    h.pods.set(podView(pod));
  });
  afterEach(() => h.close());

  it("does not re-report kills that happened before the agent first saw the container", async () => {
    await h.fixture.writeOomKills(pod, container(), 4);
    await scan();
    await scan();
    await scan();
    expect(h.sink.events).toHaveLength(0);
    expect((await samples(h.registry, "kernel_gossip_container_oom_kills_total"))[0]?.value).toBe(4);
  });

  it("reports a kill in the first seconds of a container that started after the agent", async () => {
    await scan();
    const late = makePod("Guaranteed", "containerd", ["init-heavy"]);
    await h.fixture.addPod(late);
    const c = late.containers[0];
    if (!c) throw new Error("no container");
    await h.fixture.writeOomKills(late, c, 1); // a child died before the first scan saw the container
    h.pods.set(podView(late));
    await scan();
    await scan();
    expect(h.sink.events.map((e) => e.id)).toEqual([
      `${late.uid}/init-heavy/${c.id.slice(0, 12)}/oom-kill/1`,
    ]);
    expect(h.sink.events[0]?.oom?.kills).toBe(1);
  });

  it("reports a child's kill as a kernel OOM (main process survived) after one scan of grace", async () => {
    await scan();
    await h.fixture.writeOomKills(pod, container(), 2);
    if (options.version === 2)
      await h.fixture.writeMemory(pod, container(), { limit: 268435456, peak: 268000000 });
    else await h.fixture.writeMemory(pod, container(), { limit: 134217728, peak: 134000000 });
    await scan();
    expect(h.sink.events).toHaveLength(0); // grace: is the container still running?
    await scan();
    expect(h.sink.events).toHaveLength(1);
    const e = h.sink.events[0];
    expect(e?.id).toBe(`${pod.uid}/worker/${container().id.slice(0, 12)}/oom-kill/2`);
    expect(e?.count).toBe(2);
    expect(e?.oom).toEqual({
      source: OomSource.OOM_SOURCE_KERNEL,
      kills: 2,
      memoryLimitBytes: options.version === 2 ? 268435456 : 134217728,
      memoryPeakBytes: options.version === 2 ? 268000000 : 134000000,
      mainProcessSurvived: true,
    });
    expect(wire.Event.verify(e as object)).toBeNull();
    await scan();
    expect(h.sink.events).toHaveLength(1);
    expect((await samples(h.registry, "kernel_gossip_agent_kernel_oom_merged_total"))[0]?.value).toBe(0);
  });

  it("leaves the kill to the kubelet when the container restarted (new id): one event, not two", async () => {
    await scan();
    await h.fixture.writeOomKills(pod, container(), 1);
    await scan();
    // The kubelet saw PID 1 die and restarted the container: the pod watch now shows a new id.
    const restarted = podView(pod);
    restarted.containers = restarted.containers.map((c) => ({
      ...c,
      containerId: `cri-o://${hexId()}`,
      restartCount: 1,
    }));
    h.pods.set(restarted);
    await scan();
    expect(h.sink.events).toHaveLength(0);
    expect((await samples(h.registry, "kernel_gossip_agent_kernel_oom_merged_total"))[0]?.value).toBe(1);
  });

  it("leaves the kill to the kubelet when the container is no longer running or the pod is gone", async () => {
    await scan();
    await h.fixture.writeOomKills(pod, container(), 1);
    await scan();
    h.pods.set(podView(pod, false));
    await scan();
    const other = makePod("Guaranteed", "crio", ["db"]);
    await h.fixture.addPod(other);
    h.pods.set(podView(other));
    await scan();
    const db = other.containers[0];
    if (!db) throw new Error("no container");
    await h.fixture.writeOomKills(other, db, 3);
    await scan();
    h.pods.delete(other.uid);
    await scan();
    expect(h.sink.events).toHaveLength(0);
    expect((await samples(h.registry, "kernel_gossip_agent_kernel_oom_merged_total"))[0]?.value).toBe(2);
  });
});
