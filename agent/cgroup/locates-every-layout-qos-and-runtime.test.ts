import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { QosClass } from "../types/index.ts";
import { detectLayout } from "./layout.ts";
import { type FixtureOptions, type FixturePod, makePod, podView, type Runtime } from "./testing/build.ts";
import { type Harness, harness, samples } from "./testing/harness.ts";

const LAYOUTS: { name: string; options: FixtureOptions; description: string }[] = [
  { name: "v2 systemd", options: { version: 2, driver: "systemd" }, description: "v2/systemd" },
  { name: "v2 cgroupfs", options: { version: 2, driver: "cgroupfs" }, description: "v2/cgroupfs" },
  {
    name: "v1 systemd, cpu,cpuacct combined",
    options: { version: 1, driver: "systemd", v1Cpu: "combined" },
    description: "v1/systemd",
  },
  {
    name: "v1 cgroupfs, cpu,cpuacct combined",
    options: { version: 1, driver: "cgroupfs", v1Cpu: "combined" },
    description: "v1/cgroupfs",
  },
  {
    name: "v1 systemd, cpu and cpuacct separate",
    options: { version: 1, driver: "systemd", v1Cpu: "separate" },
    description: "v1/systemd",
  },
  {
    name: "v1 cgroupfs, cpu and cpuacct separate",
    options: { version: 1, driver: "cgroupfs", v1Cpu: "separate" },
    description: "v1/cgroupfs",
  },
];
const QOS: QosClass[] = ["Guaranteed", "Burstable", "BestEffort"];
const RUNTIMES: Runtime[] = ["containerd", "crio", "docker"];

describe.each(LAYOUTS)("on $name", ({ options, description }) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("detects the layout, finds every container of every QoS class and runtime, and skips sandbox, conmon and mount cgroups", async () => {
    h = await harness(options);
    expect((await detectLayout(h.fixture.root)).description).toBe(description);
    expect((await samples(h.registry, "kernel_gossip_agent_cgroup_layout_info"))[0]?.labels).toEqual({
      version: `v${options.version}`,
      driver: options.driver,
    });
    const pods: FixturePod[] = [];
    for (const qos of QOS) {
      for (const runtime of RUNTIMES) {
        const pod = makePod(qos, runtime, ["app", "sidecar"]);
        await h.fixture.addPod(pod);
        h.pods.set(podView(pod));
        pods.push(pod);
      }
    }
    const first = await h.sampler.scanOnce();
    expect(first).toMatchObject({ pods: 9, containers: 18, unlocated: 0, readErrors: 0 });
    expect((await samples(h.registry, "kernel_gossip_agent_cgroup_containers"))[0]?.value).toBe(18);

    // Every container gets its own figures: 10 s later each has run a distinct amount.
    h.clock.advance(10_000);
    let n = 0;
    for (const pod of pods) {
      for (const c of pod.containers) {
        n++;
        await h.fixture.writeCpu(pod, c, {
          periods: 100,
          throttled: n,
          throttledSeconds: n / 100,
          usageSeconds: n / 10,
        });
      }
    }
    const second = await h.sampler.scanOnce();
    expect(second).toMatchObject({ containers: 18, readErrors: 0 });
    const usage = await samples(h.registry, "kernel_gossip_container_cpu_usage_seconds_total");
    expect(usage).toHaveLength(18);
    n = 0;
    for (const pod of pods) {
      for (const c of pod.containers) {
        n++;
        const labels = { namespace: pod.namespace, pod: pod.name, container: c.name };
        expect(
          usage.find((s) => s.labels.pod === pod.name && s.labels.container === c.name)?.value,
        ).toBeCloseTo(n / 10, 9);
        const limit = (await samples(h.registry, "kernel_gossip_container_cpu_limit_cores")).find(
          (s) => s.labels.pod === pod.name && s.labels.container === c.name,
        );
        const ratio = (await samples(h.registry, "kernel_gossip_container_cpu_throttled_ratio")).find(
          (s) => s.labels.pod === pod.name && s.labels.container === c.name,
        );
        if (pod.qos === "BestEffort") {
          // No limit: reported as no limit (absent series), never as 0 % throttled.
          expect(limit).toBeUndefined();
          expect(ratio).toBeUndefined();
        } else {
          expect(limit?.labels).toEqual(labels);
          expect(limit?.value).toBe(0.5);
          expect(ratio?.value).toBeCloseTo(n / 100, 9);
        }
      }
    }
  });
});

describe("a pod listed before its cgroup exists", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("is looked for again a few scans later, and a restarted container's new cgroup is found", async () => {
    h = await harness({ version: 2, driver: "systemd" });
    const pod = makePod("Burstable", "containerd", ["app"]);
    h.pods.set(podView(pod));
    expect(await h.sampler.scanOnce()).toMatchObject({ containers: 0, unlocated: 1, readErrors: 0 });
    await h.fixture.addPod(pod);
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await h.sampler.scanOnce()).containers);
    expect(results).toContain(1);
    expect(results.at(-1)).toBe(1);
    // The container restarts: a new id, a new cgroup beside the old one's removal.
    const app = pod.containers[0];
    if (!app) throw new Error("no container");
    await h.fixture.removeContainer(pod, app);
    app.id = "ab".repeat(32);
    await h.fixture.addContainer(pod, app);
    h.pods.set(podView(pod));
    expect(await h.sampler.scanOnce()).toMatchObject({ containers: 1, unlocated: 0, readErrors: 0 });
  });
});

describe("layout detection", () => {
  it("says what it expected and which option to fix when CGROUP_ROOT holds no cgroup filesystem", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kg-no-cgroup-"));
    try {
      await expect(detectLayout(dir)).rejects.toThrow(/no cgroup filesystem found at .*set CGROUP_ROOT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const hostHasCgroups = ["cgroup.controllers", "cpu", "memory"].some((f) =>
    existsSync(join("/sys/fs/cgroup", f)),
  );
  it.skipIf(!hostHasCgroups)(
    "finds this machine's own hierarchies (on v1: cpu and cpuacct, combined or separate)",
    async () => {
      const layout = await detectLayout("/sys/fs/cgroup");
      if (layout.version === 2) expect(layout.hierarchies.cpu).toBe("/sys/fs/cgroup");
      else {
        expect(layout.hierarchies.cpu).toMatch(/^\/sys\/fs\/cgroup\/cpu(,cpuacct)?$/);
        expect(layout.hierarchies.cpuacct).toMatch(/^\/sys\/fs\/cgroup\/(cpuacct|cpu,cpuacct)$/);
        expect(layout.hierarchies.memory).toBe("/sys/fs/cgroup/memory");
      }
    },
  );
});
