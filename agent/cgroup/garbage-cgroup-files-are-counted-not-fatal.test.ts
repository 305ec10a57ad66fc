import { mkdir, rm, unlink, writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { type CgroupFs, nodeCgroupFs, syncReadCgroupFs } from "./reader.ts";
import { type FixtureContainer, type FixturePod, makePod, podView } from "./testing/build.ts";
import { type Harness, harness, samples } from "./testing/harness.ts";

const errorsOf = async (h: Harness) =>
  Object.fromEntries(
    (await samples(h.registry, "kernel_gossip_agent_cgroup_read_errors_total")).map((s) => [
      `${s.labels.file} ${s.labels.error}`,
      s.value,
    ]),
  );

function only(pod: FixturePod): FixtureContainer {
  const c = pod.containers[0];
  if (!c) throw new Error("no container");
  return c;
}

describe("garbage in the cgroup filesystem", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it.each([
    { reader: "fs.promises (default)", fs: nodeCgroupFs },
    { reader: "readFileSync", fs: syncReadCgroupFs },
  ])(
    "counts empty, truncated, non-numeric, missing and directory-shaped files by file and error, and keeps scanning the rest ($reader)",
    async ({ fs }) => {
      h = await harness({ version: 1, driver: "cgroupfs", v1Cpu: "separate" }, { fs });
      const names = ["empty", "truncated", "letters", "missing", "isdir", "healthy"];
      const pods = Object.fromEntries(names.map((n) => [n, makePod("Burstable", "containerd", [n])]));
      for (const pod of Object.values(pods)) {
        await h.fixture.addPod(pod);
        h.pods.set(podView(pod));
      }
      const p = (n: string) => pods[n] as FixturePod;
      await writeFile(h.fixture.path(p("empty"), only(p("empty")), "cpu.stat"), "");
      await writeFile(
        h.fixture.path(p("truncated"), only(p("truncated")), "cpu.stat"),
        "nr_periods 10\nnr_throttled 2\nthrottled_ti",
      );
      await writeFile(h.fixture.path(p("letters"), only(p("letters")), "cpuacct.usage"), "12a45\n");
      await unlink(h.fixture.path(p("missing"), only(p("missing")), "cpuacct.usage"));
      const oomPath = h.fixture.path(p("isdir"), only(p("isdir")), "memory.oom_control");
      await unlink(oomPath);
      await mkdir(oomPath);

      const report = await h.sampler.scanOnce();
      expect(report.containers).toBe(6);
      expect(await errorsOf(h)).toEqual({
        "cpu.stat empty": 1,
        "cpu.stat malformed": 1,
        "cpuacct.usage malformed": 1,
        "cpuacct.usage ENOENT": 1,
        "memory.oom_control EISDIR": 1,
      });
      // Second scan: broken files count again; a file missing from a live cgroup is counted once.
      const second = await h.sampler.scanOnce();
      expect(second.readErrors).toBe(4);
      expect((await errorsOf(h))["cpuacct.usage ENOENT"]).toBe(1);
      // The healthy container is unaffected, and the registry still renders.
      const usage = await samples(h.registry, "kernel_gossip_container_cpu_usage_seconds_total");
      expect(usage.map((s) => s.labels.container).sort()).toEqual(["healthy", "isdir"]);
      expect(await h.registry.metrics()).toContain("kernel_gossip_agent_cgroup_read_errors_total");
    },
  );

  it("does not count files only some kernels have (cpu.pressure without PSI) as errors", async () => {
    h = await harness({ version: 2, driver: "systemd" });
    const pod = makePod("Burstable", "crio", ["api"]);
    await h.fixture.addPod(pod);
    await unlink(h.fixture.path(pod, only(pod), "cpu.pressure"));
    await unlink(h.fixture.path(pod, undefined, "memory.peak"));
    h.pods.set(podView(pod));
    expect(await h.sampler.scanOnce()).toMatchObject({ containers: 1, readErrors: 0 });
    expect((await h.sampler.podStats(podView(pod)))?.memoryPeakBytes).toBe(0);
    expect(await errorsOf(h)).toEqual({});
  });

  it("counts permission denied (injected: root bypasses file modes) and keeps the container's other figures", async () => {
    let deny = "";
    const fs: CgroupFs = {
      ...nodeCgroupFs,
      readFile: async (path) => {
        if (path === deny)
          throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: "EACCES" });
        return nodeCgroupFs.readFile(path);
      },
    };
    h = await harness({ version: 2, driver: "systemd" }, { fs });
    const pod = makePod("Guaranteed", "docker", ["api"]);
    await h.fixture.addPod(pod);
    h.pods.set(podView(pod));
    deny = h.fixture.path(pod, only(pod), "memory.events");
    await h.sampler.scanOnce();
    await h.sampler.scanOnce();
    expect(await errorsOf(h)).toEqual({ "memory.events EACCES": 2 });
    expect(await samples(h.registry, "kernel_gossip_container_cpu_usage_seconds_total")).toHaveLength(1);
    expect(await samples(h.registry, "kernel_gossip_container_oom_kills_total")).toHaveLength(0);
  });

  it("treats a container directory vanishing mid-scan as the container going away: no error, its series removed", async () => {
    let vanish = "";
    let target: FixturePod | undefined;
    const fs: CgroupFs = {
      ...nodeCgroupFs,
      readFile: async (path) => {
        if (path === vanish && target) {
          // The runtime removes the cgroup between the listing and this read.
          await h?.fixture.removeContainer(target, only(target));
          vanish = "";
        }
        return nodeCgroupFs.readFile(path);
      },
    };
    h = await harness({ version: 1, driver: "systemd", v1Cpu: "combined" }, { fs });
    const stays = makePod("Burstable", "containerd", ["stays"]);
    target = makePod("Burstable", "containerd", ["goes"]);
    for (const pod of [stays, target]) {
      await h.fixture.addPod(pod);
      h.pods.set(podView(pod));
    }
    expect((await h.sampler.scanOnce()).containers).toBe(2);
    expect(await samples(h.registry, "kernel_gossip_container_cpu_usage_seconds_total")).toHaveLength(2);
    vanish = h.fixture.path(target, only(target), "cpu.stat");
    const report = await h.sampler.scanOnce();
    expect(report).toMatchObject({ containers: 1, vanished: 1, readErrors: 0 });
    expect(await errorsOf(h)).toEqual({});
    const left = await samples(h.registry, "kernel_gossip_container_cpu_usage_seconds_total");
    expect(left.map((s) => s.labels.container)).toEqual(["stays"]);
    // While the pod watch still lists it, the next scans look for it without errors.
    expect(await h.sampler.scanOnce()).toMatchObject({ containers: 1, unlocated: 1, readErrors: 0 });
  });

  it("removes a container's series when it leaves the pod directory", async () => {
    h = await harness({ version: 2, driver: "cgroupfs" });
    const pod = makePod("BestEffort", "containerd", ["a", "b"]);
    await h.fixture.addPod(pod);
    h.pods.set(podView(pod));
    await h.sampler.scanOnce();
    expect(await samples(h.registry, "kernel_gossip_container_cpu_periods_total")).toHaveLength(2);
    h.pods.delete(pod.uid);
    await rm(h.fixture.path(pod, undefined, ""), { recursive: true });
    await h.sampler.scanOnce();
    expect(await samples(h.registry, "kernel_gossip_container_cpu_periods_total")).toHaveLength(0);
    expect((await samples(h.registry, "kernel_gossip_agent_cgroup_containers"))[0]?.value).toBe(0);
  });
});
