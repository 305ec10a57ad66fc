import { describe, expect, it } from "vitest";
import { silentLogger } from "../../shared/log.ts";
import { recommendCpu } from "./cpu.ts";
import { exitMeaning, recommendTermination } from "./crash.ts";
import { HpaLookup } from "./hpa.ts";
import { recommendMemory } from "./memory.ts";
import { percentile } from "./quantity.ts";
import { DEFAULT_THRESHOLDS, severityOf, throttlingSeverity } from "./severity.ts";

const MI = 1024 * 1024;
const repeat = (n: number, v: number): number[] => Array.from({ length: n }, () => v);
const ramp = (n: number, from: number, step: number): number[] =>
  Array.from({ length: n }, (_, i) => from + i * step);

describe("CPU limit recommendation", () => {
  const cases = [
    {
      name: "not enough data below the minimum number of windows",
      input: { samples: [1.2, 1.3, 1.1], limitCores: 0.5 },
      action: "NotEnoughData",
      confidence: "none",
      cpuLimit: undefined,
      text: "3 of 6 windows",
    },
    {
      name: "no limit set",
      input: { samples: repeat(40, 0.7), limitCores: 0 },
      action: "NoLimit",
      confidence: "medium",
      cpuLimit: undefined,
      text: "no CPU limit, p95 demand 0.70 cores",
    },
    {
      name: "steady demand above the limit: p95 + 20 % rounded up to 50m",
      // p95 of 1.00..1.19 (20 samples) = 1.18 → ×1.2 = 1.416 → 1450m
      input: { samples: ramp(20, 1.0, 0.01), limitCores: 0.5 },
      action: "SetCPULimit",
      confidence: "low",
      cpuLimit: "1450m",
      text: "limit 500m → 1450m",
    },
    {
      name: "lots of data gives high confidence",
      input: { samples: repeat(200, 0.9), limitCores: 0.5 },
      action: "SetCPULimit",
      confidence: "high",
      cpuLimit: "1100m", // 0.9 × 1.2 = 1.08 → 1100m
      text: "200 windows",
    },
    {
      name: "demand fits the limit on average: bursts, remove the limit",
      input: { samples: repeat(50, 0.3), limitCores: 1 },
      action: "RemoveCPULimit",
      confidence: "medium",
      cpuLimit: undefined,
      text: "remove the CPU limit",
    },
    {
      name: "an HPA manages the workload",
      input: { samples: repeat(10, 2), limitCores: 1, hpa: "web" },
      action: "HPAManaged",
      confidence: "low",
      cpuLimit: "2400m",
      text: "HorizontalPodAutoscaler (web)",
    },
    {
      name: "never above the node's CPUs: two busy threads on a 2-CPU node get 2000m, not 2400m",
      input: { samples: repeat(10, 2), limitCores: 0.1, nodeCpus: 2, method: "threads" },
      action: "SetCPULimit",
      confidence: "low",
      cpuLimit: "2000m",
      text: "capped at the node's 2 CPUs",
    },
    {
      name: "throttled by the pod cgroup's quota: says so, and that quota is the limit",
      input: { samples: repeat(8, 1), limitCores: 0.2, limitedBy: "pod", podLimitCores: 0.2, nodeCpus: 2 },
      action: "SetCPULimit",
      confidence: "low",
      cpuLimit: "1200m",
      text: "the pod cgroup's quota (200m) throttled",
    },
    {
      name: "an upper bound is called one",
      input: { samples: repeat(8, 1), limitCores: 0.1, nodeCpus: 2, method: "cgroup-upper-bound" },
      action: "SetCPULimit",
      confidence: "low",
      cpuLimit: "1200m",
      text: "demand is an upper bound",
    },
    {
      name: "an agent that sends no physical demand: not enough data, and why",
      input: { samples: [], limitCores: 0.1 },
      action: "NotEnoughData",
      confidence: "none",
      cpuLimit: undefined,
      text: "The agent predates physical demand estimates",
    },
  ] as const;
  for (const c of cases) {
    it(c.name, () => {
      const rec = recommendCpu(c.input);
      expect(rec.action).toBe(c.action);
      expect(rec.confidence).toBe(c.confidence);
      expect(rec.cpuLimit).toBe(c.cpuLimit);
      expect(rec.summary).toContain(c.text);
      expect(rec.samples).toBe(c.input.samples.length);
      // numbers first, then one sentence
      expect(rec.summary).toMatch(/^[^.]*\d.*\. [A-Z].*\.$/s);
    });
  }
});

describe("memory limit recommendation", () => {
  const cases = [
    { name: "small limit: +100Mi wins", limit: 256 * MI, peak: 0, expected: "356Mi" },
    { name: "large limit: +20 % wins", limit: 2048 * MI, peak: 0, expected: "2458Mi" },
    { name: "peak above the limit is the base", limit: 512 * MI, peak: 1024 * MI, expected: "1229Mi" },
    { name: "no limit but a peak", limit: 0, peak: 300 * MI, expected: "400Mi" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const rec = recommendMemory(
        { source: "kubelet", limitBytes: c.limit, peakBytes: c.peak, mainProcessSurvived: false },
        3,
      );
      expect(rec.action).toBe("SetMemoryLimit");
      expect(rec.memoryLimit).toBe(c.expected);
      expect(rec.summary).toContain(`→ ${c.expected}`);
    });
  }
  it("no limit and no peak asks to investigate node pressure", () => {
    const rec = recommendMemory(
      { source: "kernel", limitBytes: 0, peakBytes: 0, mainProcessSurvived: true },
      1,
    );
    expect(rec.action).toBe("Investigate");
    expect(rec.summary).toContain("child process");
  });
});

describe("crash loop meaning", () => {
  const cases: [number, string, string][] = [
    [137, "Error", "liveness probe"],
    [137, "OOMKilled", "OOM killer"],
    [1, "Error", "logs"],
    [127, "Error", "command not found"],
    [126, "Error", "not executable"],
    [139, "Error", "segmentation fault"],
    [143, "Error", "SIGTERM"],
    [130, "Error", "SIGINT"],
  ];
  for (const [code, reason, text] of cases) {
    it(`exit ${code} (${reason}) means ${text}`, () => expect(exitMeaning(code, reason)).toContain(text));
  }
  it("summary carries exit code, restarts and back-off first", () => {
    const rec = recommendTermination({
      reason: "CrashLoopBackOff",
      lastReason: "Error",
      exitCode: 127,
      signal: 0,
      message: "",
      restartCount: 5,
      backoffSeconds: 80,
    });
    expect(rec.action).toBe("FixCrash");
    expect(rec.summary.startsWith("exit 127, last Error, 5 restarts, back-off 80s. ")).toBe(true);
  });
  it("image pull errors get their own advice", () => {
    const rec = recommendTermination({
      reason: "ImagePullBackOff",
      lastReason: "",
      exitCode: 0,
      signal: 0,
      message: "",
      restartCount: 0,
      backoffSeconds: 0,
    });
    expect(rec.summary).toContain("pull secret");
  });
});

describe("severity", () => {
  it("throttling: critical above 80 %, warning above 50 %, info below", () => {
    expect(throttlingSeverity(0.81, DEFAULT_THRESHOLDS)).toBe("critical");
    expect(throttlingSeverity(0.8, DEFAULT_THRESHOLDS)).toBe("warning");
    expect(throttlingSeverity(0.51, DEFAULT_THRESHOLDS)).toBe("warning");
    expect(throttlingSeverity(0.5, DEFAULT_THRESHOLDS)).toBe("info");
    expect(throttlingSeverity(0.3, { warning: 0.2, critical: 0.25 })).toBe("critical");
  });
  it("a kernel OOM kill of a child is a warning, a container OOM kill critical", () => {
    const oom = { source: "kernel", limitBytes: 1, peakBytes: 1 } as const;
    expect(severityOf("OOMKilled", { oom: { ...oom, mainProcessSurvived: true } }, DEFAULT_THRESHOLDS)).toBe(
      "warning",
    );
    expect(severityOf("OOMKilled", { oom: { ...oom, mainProcessSurvived: false } }, DEFAULT_THRESHOLDS)).toBe(
      "critical",
    );
  });
  it("percentile is nearest-rank", () => {
    expect(percentile([5, 1, 4, 2, 3], 0.95)).toBe(5);
    expect(percentile([5, 1, 4, 2, 3], 0.5)).toBe(3);
  });
});

describe("HPA lookup", () => {
  it("finds the HPA targeting the workload with one list per namespace", async () => {
    let lists = 0;
    const lookup = new HpaLookup({
      source: {
        async list() {
          lists++;
          return [{ name: "web-hpa", kind: "Deployment", targetName: "web" }];
        },
      },
      log: silentLogger(),
      ttlMs: 60_000,
      maxNamespaces: 10,
    });
    expect(await lookup.find("shop", { kind: "Deployment", name: "web" })).toBe("web-hpa");
    expect(await lookup.find("shop", { kind: "StatefulSet", name: "web" })).toBeUndefined();
    expect(lists).toBe(1);
  });
  it("an API failure means no HPA known, not an error", async () => {
    const lookup = new HpaLookup({
      source: {
        list: () => Promise.reject(new Error("forbidden")),
      },
      log: silentLogger(),
      ttlMs: 60_000,
      maxNamespaces: 10,
    });
    expect(await lookup.find("shop", { kind: "Deployment", name: "web" })).toBeUndefined();
  });
});
