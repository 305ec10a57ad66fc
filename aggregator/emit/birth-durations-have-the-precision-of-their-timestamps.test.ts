// Issue 17, finding 8: on a real cluster every time a birth certificate is built from is
// a metav1.Time (whole seconds), yet a sub-second Job pod read SLOWEST PHASE
// `created (APIServer) 0ms` and durations showed tenths no cluster measures. A certificate
// now says what precision it has: whole seconds, `<1s` below one, never milliseconds.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { startKubeApi } from "../../test/kube-api/index.ts";
import { BirthCertificate, type BirthStepFacts, humanDuration } from "./birth.ts";

const exec = promisify(execFile);
const repo = fileURLToPath(new URL("../..", import.meta.url));
const T = Date.parse("2026-11-23T19:05:22Z");
const step = (
  name: string,
  actor: BirthStepFacts["actor"],
  atMs: number,
  durationMs: number,
): BirthStepFacts => ({
  name,
  actor,
  atMs,
  durationMs,
  container: "",
});

function certificate(steps: BirthStepFacts[], totalMs: number) {
  return new BirthCertificate({
    pod: {
      uid: "u1",
      namespace: "batch",
      name: "job-abc12",
      node: "n1",
      qosClass: "Burstable",
      labels: {},
      owners: [],
    },
    enriched: { cluster: "c", project: "p", workload: { kind: "Job", name: "job" } },
    ready: true,
    failureReason: "",
    createdAtMs: T,
    totalMs,
    steps,
    kernel: { cpuSeconds: 0, throttledPeriods: 0, memoryPeakBytes: 0, processCount: 0 },
  } as ConstructorParameters<typeof BirthCertificate>[0]).body().spec as Record<string, unknown>;
}

describe("birth certificate precision", () => {
  it("a pod born within its creation second reads <1s, never 0ms", () => {
    const spec = certificate(
      [
        step("created", "APIServer", T, 0),
        step("scheduled", "Scheduler", T, 0),
        step("ready", "Kubelet", T, 0),
      ],
      0,
    );
    expect(spec.duration).toBe("<1s");
    expect(spec.slowestPhase).toBe("created (APIServer) <1s");
  });

  it("durations are whole seconds, the resolution of the timestamps they come from", () => {
    const spec = certificate(
      [
        step("created", "APIServer", T, 0),
        step("container-started", "Runtime", T + 3_000, 3_000),
        step("failed", "Kubelet", T + 4_400, 1_400), // the agent's own clock: finer, still shown in seconds
      ],
      4_400,
    );
    expect(spec.duration).toBe("4s");
    expect(spec.slowestPhase).toBe("container-started (Runtime) 3s");
    for (const ms of [0, 1, 850, 999]) expect(humanDuration(ms)).toBe("<1s");
    expect(humanDuration(1_500)).toBe("2s");
    expect(humanDuration(95_000)).toBe("1m35s");
    expect(humanDuration(59_700)).toBe("1m");
  });

  it("the local API server stamps creationTimestamp and CRD conditions in whole seconds, like kube-apiserver", async () => {
    const api = await startKubeApi();
    try {
      const kubectl = async (...args: string[]) =>
        (await exec("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], { cwd: repo })).stdout;
      await kubectl("apply", "-f", "crds/");
      const crds = JSON.parse(await kubectl("get", "crd", "-o", "json")) as {
        items: {
          metadata: { creationTimestamp: string };
          status: { conditions: { lastTransitionTime: string }[] };
        }[];
      };
      const times = crds.items.flatMap((c) => [
        c.metadata.creationTimestamp,
        ...c.status.conditions.map((x) => x.lastTransitionTime),
      ]);
      expect(times.length).toBeGreaterThan(2);
      for (const t of times) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    } finally {
      await api.close();
    }
  }, 60_000);
});
