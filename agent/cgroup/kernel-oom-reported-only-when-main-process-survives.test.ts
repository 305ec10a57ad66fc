import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OomSource, wire } from "../../shared/proto.ts";
import { type FixturePod, hexId, makePod, podView } from "./testing/build.ts";
import { type Harness, harness, samples } from "./testing/harness.ts";

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

  it("reports a child's kill as a kernel OOM (main process survived) in the scan that sees it", async () => {
    await scan();
    await h.fixture.writeOomKills(pod, container(), 2);
    if (options.version === 2)
      await h.fixture.writeMemory(pod, container(), { limit: 268435456, peak: 268000000 });
    else await h.fixture.writeMemory(pod, container(), { limit: 134217728, peak: 134000000 });
    await scan(); // the instance still runs and its cgroup has processes: decided at once
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
    await h.fixture.endProcesses(pod, container()); // PID 1 was the one killed: the cgroup emptied
    await scan();
    expect(h.sink.events).toHaveLength(0);
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
    h.pods.set(podView(pod, false)); // the pod watch saw the container terminate before the scan
    await h.fixture.writeOomKills(pod, container(), 1);
    await scan(); // a stopped container is not sampled: the kubelet's report asks the counter
    expect(await h.sampler.oomVerdict(`cri-o://${container().id}`, false)).toBe("confirmed");
    const other = makePod("Guaranteed", "crio", ["db"]);
    await h.fixture.addPod(other);
    h.pods.set(podView(other));
    await scan();
    const db = other.containers[0];
    if (!db) throw new Error("no container");
    await h.fixture.writeOomKills(other, db, 3);
    await h.fixture.endProcesses(other, db);
    await scan();
    h.pods.delete(other.uid);
    await scan();
    // Three kills, the main process's among them (its cgroup emptied): one is the kubelet's
    // OOMKilled, the two before it were children — sent by the kernel side.
    expect(h.sink.events.map((e) => [e.id, e.count, e.oom?.mainProcessSurvived])).toEqual([
      [`${other.uid}/db/${db.id.slice(0, 12)}/oom-kill/3`, 2, false],
    ]);
    expect((await samples(h.registry, "kernel_gossip_agent_kernel_oom_merged_total"))[0]?.value).toBe(2);
    // The kubelet's report of the merged kill is confirmed by the kernel, once.
    expect(await h.sampler.oomVerdict(`cri-o://${db.id}`, false)).toBe("confirmed");
    expect(await h.sampler.oomVerdict(`cri-o://${db.id}`, false)).toBe("kernel-counter-unchanged");
  });

  it("sends every kill of a pod being deleted: the kubelet's OOMKilled during a deletion is not counted", async () => {
    await scan();
    h.pods.set({ ...podView(pod), deletingSinceMs: h.clock.now() });
    await h.fixture.writeOomKills(pod, container(), 1);
    await h.fixture.endProcesses(pod, container());
    await scan();
    expect(h.sink.events.map((e) => [e.count, e.oom?.mainProcessSurvived])).toEqual([[1, false]]);
    expect(await h.sampler.oomVerdict(`cri-o://${container().id}`, true)).toBe("pod-deleted");
    // A kill the scan did not see (the container already stopped): the kubelet's report counts it.
    h.pods.set({ ...podView(pod, false), deletingSinceMs: h.clock.now() });
    await h.fixture.writeOomKills(pod, container(), 2);
    await scan();
    expect(await h.sampler.oomVerdict(`cri-o://${container().id}`, true)).toBe("confirmed");
    expect(h.sink.events).toHaveLength(1);
  });

  it("answers the kubelet's OOMKilled from the counter: unchanged is not a kill, a move is, unknown stays the kubelet's", async () => {
    await scan();
    await h.fixture.writeOomKills(pod, container(), 1);
    await scan(); // a child's kill, sent as a kernel OOM
    expect(h.sink.events).toHaveLength(1);
    // containerd now says OOMKilled for any exit of this container: the counter did not move.
    expect(await h.sampler.oomVerdict(`cri-o://${container().id}`, false)).toBe("kernel-counter-unchanged");
    expect(await h.sampler.oomVerdict(`cri-o://${container().id}`, true)).toBe("pod-deleted");
    // The main process is killed before the next scan: the kubelet's report comes first.
    await h.fixture.writeOomKills(pod, container(), 3);
    expect(await h.sampler.oomVerdict(`cri-o://${container().id}`, false)).toBe("confirmed");
    expect(h.sink.events.map((e) => [e.count, e.oom?.mainProcessSurvived])).toEqual([
      [1, true],
      [1, false], // the kill before the main process's: a child
    ]);
    await scan(); // nothing is counted twice
    expect(h.sink.events).toHaveLength(2);
    expect(await h.sampler.oomVerdict(`cri-o://${hexId()}`, false)).toBe("unknown");
    expect(await h.sampler.oomVerdict(undefined, true)).toBe("pod-deleted");
  });
});
