import { writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { makePod, podView } from "./testing/build.ts";
import { type Harness, harness } from "./testing/harness.ts";

describe.each([
  { version: 2 as const, driver: "systemd" as const },
  { version: 1 as const, driver: "cgroupfs" as const, v1Cpu: "separate" as const },
])("podStats on v$version/$driver", (options) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("reads CPU seconds, throttled periods, peak memory and process count from the pod cgroup", async () => {
    h = await harness(options);
    const pod = makePod("Burstable", "containerd", ["app"]);
    await h.fixture.addPod(pod);
    await h.fixture.writeCpu(pod, undefined, {
      periods: 40,
      throttled: 7,
      throttledSeconds: 0.3,
      usageSeconds: 1.25,
    });
    await h.fixture.writeMemory(pod, undefined, { peak: 73_400_320 });
    await writeFile(h.fixture.path(pod, undefined, "pids.current"), "12\n");
    expect(await h.sampler.podStats(podView(pod))).toEqual({
      cpuSeconds: 1.25,
      throttledPeriods: 7,
      memoryPeakBytes: 73_400_320,
      processCount: 12,
    });
  });

  it("answers undefined for a pod without a cgroup and 0 for an unreadable figure, never throwing", async () => {
    h = await harness(options);
    expect(await h.sampler.podStats(podView(makePod("BestEffort", "crio", ["x"])))).toBeUndefined();
    const pod = makePod("Guaranteed", "docker", ["app"]);
    await h.fixture.addPod(pod);
    await writeFile(h.fixture.path(pod, undefined, "pids.current"), "lots\n");
    const stats = await h.sampler.podStats(podView(pod));
    expect(stats?.processCount).toBe(0);
  });
});
