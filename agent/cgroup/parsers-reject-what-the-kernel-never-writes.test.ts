import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCpuStat, parseMemoryLimit, parseOomKills } from "./files.ts";
import {
  CgroupParseError,
  cfsLimitCores,
  parseCpuMax,
  parseKeyValues,
  parsePressureFile,
  parseSingle,
} from "./parse.ts";
import { bareContainerId, containerIdOfDir, podDirCandidates } from "./paths.ts";

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof CgroupParseError ? err.code : `not a parse error: ${String(err)}`;
  }
  return "parsed";
};

describe("cgroup file parsers", () => {
  it("read back any counters the kernel could write", () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), fc.nat(), (periods, throttled, usec, usage) => {
        const v2 = `usage_usec ${usage}\nuser_usec 1\nsystem_usec 2\nnr_periods ${periods}\nnr_throttled ${throttled}\nthrottled_usec ${usec}\nnr_bursts 0\nburst_usec 0\n`;
        expect(parseCpuStat(2, v2)).toEqual({
          periods,
          throttled,
          throttledSeconds: usec / 1e6,
          usageSeconds: usage / 1e6,
        });
        const v1 = `nr_periods ${periods}\nnr_throttled ${throttled}\nthrottled_time ${usec}\n`;
        expect(parseCpuStat(1, v1)).toEqual({ periods, throttled, throttledSeconds: usec / 1e9 });
      }),
    );
  });

  it("rejects empty, truncated, non-numeric and negative content", () => {
    expect(code(() => parseCpuStat(1, ""))).toBe("empty");
    expect(code(() => parseCpuStat(1, "nr_periods 10\nnr_throttled 2\nthrottled_ti"))).toBe("malformed");
    expect(code(() => parseCpuStat(1, "nr_periods 10\nnr_throttled x\nthrottled_time 0\n"))).toBe(
      "malformed",
    );
    expect(code(() => parseCpuStat(1, "nr_periods 10\nnr_throttled -2\nthrottled_time 0\n"))).toBe(
      "malformed",
    );
    expect(code(() => parseCpuStat(1, "nr_periods 10\nthrottled_time 0\n"))).toBe("malformed"); // key missing
    expect(code(() => parseCpuStat(1, "nr_periods 10\n\nnr_throttled 1\nthrottled_time 0\n"))).toBe(
      "malformed",
    );
    expect(code(() => parseSingle("1e9\n", "cpuacct.usage"))).toBe("malformed");
    expect(code(() => parseSingle("12\n13\n", "cpuacct.usage"))).toBe("malformed");
    expect(code(() => parseSingle("-1\n", "cpuacct.usage"))).toBe("malformed");
    expect(code(() => parseKeyValues(" 1\n", "memory.events", ["oom_kill"]))).toBe("malformed");
  });

  it("keeps v2 cpu.stat without the cpu controller (usage only) as zero periods", () => {
    expect(parseCpuStat(2, "usage_usec 5000000\nuser_usec 1\nsystem_usec 2\n")).toEqual({
      periods: 0,
      throttled: 0,
      throttledSeconds: 0,
      usageSeconds: 5,
    });
  });

  it("tells no limit from a limit", () => {
    expect(parseCpuMax("max 100000\n")).toBeUndefined();
    expect(parseCpuMax("50000 100000\n")).toBe(0.5);
    expect(code(() => parseCpuMax("50000\n"))).toBe("malformed");
    expect(code(() => parseCpuMax("50000 0\n"))).toBe("malformed");
    expect(cfsLimitCores("-1\n", "100000\n")).toBeUndefined();
    expect(cfsLimitCores("250000\n", "100000\n")).toBe(2.5);
    expect(parseMemoryLimit(2, "max\n")).toBe(0);
    expect(parseMemoryLimit(1, "9223372036854771712\n")).toBe(0);
    expect(parseMemoryLimit(1, "67108864\n")).toBe(67108864);
  });

  it("reads the OOM kill counter, and nothing on kernels without it", () => {
    expect(parseOomKills(2, "low 0\nhigh 0\nmax 4\noom 2\noom_kill 3\noom_group_kill 0\n")).toBe(3);
    expect(parseOomKills(1, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")).toBe(1);
    expect(parseOomKills(1, "oom_kill_disable 0\nunder_oom 0\n")).toBeUndefined();
  });

  it("reads a PSI file (cpu.pressure, memory.pressure): some and full averages and totals", () => {
    expect(
      parsePressureFile(
        "some avg10=12.34 avg60=1.00 avg300=0.00 total=99\nfull avg10=0.50 avg60=0.25 avg300=0.00 total=7\n",
        "cpu.pressure",
      ),
    ).toEqual({
      someAvg10: 12.34,
      someAvg60: 1,
      someTotalUs: 99,
      fullAvg10: 0.5,
      fullAvg60: 0.25,
      fullTotalUs: 7,
    });
    // cpu.pressure before 5.13 has no "full" line: zeros, not an error.
    expect(
      parsePressureFile("some avg10=1.00 avg60=0.50 avg300=0.00 total=5\n", "cpu.pressure"),
    ).toMatchObject({
      someAvg10: 1,
      fullAvg10: 0,
      fullTotalUs: 0,
    });
    expect(
      code(() => parsePressureFile("full avg10=1.00 avg60=0.00 avg300=0.00 total=1\n", "cpu.pressure")),
    ).toBe("malformed");
    expect(code(() => parsePressureFile("some avg10=1.x avg60=0 avg300=0 total=1\n", "cpu.pressure"))).toBe(
      "malformed",
    );
    expect(code(() => parsePressureFile("some avg10=1.00 avg60=0.00\n", "cpu.pressure"))).toBe("malformed");
    expect(code(() => parsePressureFile("partial avg10=1.00\n", "memory.pressure"))).toBe("malformed");
  });
});

describe("cgroup names", () => {
  const id = "0123456789abcdef".repeat(4);

  it("recognises every runtime's container cgroup and skips conmon, mount units and strangers", () => {
    for (const name of [
      id,
      `cri-containerd-${id}.scope`,
      `crio-${id}.scope`,
      `crio-${id}`,
      `docker-${id}.scope`,
    ]) {
      expect(containerIdOfDir(name)).toBe(id);
    }
    for (const name of [
      `crio-conmon-${id}.scope`,
      `crio-conmon-${id}`,
      `docker-${id}.mount`,
      `${id}.mount`,
      "cpu.stat",
      "init.scope",
      "kubepods-burstable.slice",
      `libpod-${id}.scope`,
    ]) {
      expect(containerIdOfDir(name)).toBeUndefined();
    }
  });

  it("strips the runtime prefix of a containerID", () => {
    expect(bareContainerId(`containerd://${id}`)).toBe(id);
    expect(bareContainerId(`cri-o://${id}`)).toBe(id);
    expect(bareContainerId("")).toBeUndefined();
    expect(bareContainerId("containerd://")).toBeUndefined();
  });

  it("names pod cgroups as the kubelet does, the detected driver's first", () => {
    const uid = "6d1b4c2e-8f0a-4b7e-9c3d-2a1f0e9d8c7b";
    const u = uid.replaceAll("-", "_");
    expect(podDirCandidates(uid, "Guaranteed", "cgroupfs")).toEqual([
      `kubepods/pod${uid}`,
      `kubepods.slice/kubepods-pod${u}.slice`,
    ]);
    expect(podDirCandidates(uid, "Burstable", "systemd")[0]).toBe(
      `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u}.slice`,
    );
    expect(podDirCandidates(uid, "BestEffort", "unknown")[0]).toBe(`kubepods/besteffort/pod${uid}`);
    // kind: kubelet --cgroup-root=/kubelet prefixes every slice.
    expect(podDirCandidates(uid, "Burstable", "systemd", ["kubelet"])[0]).toBe(
      `kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${u}.slice`,
    );
  });
});
