// containerd reports a container OOMKilled once any process in it was ever OOM-killed. The
// failure reporter asks the container's oom_kill counter (the real CgroupSampler over a
// fixture cgroup tree) before it counts a kubelet OOMKilled: a crash after a child's kill is
// the Error it is, a deletion is not a kill, a kill the counter confirms is one.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { type FixturePod, makePod, podView } from "../cgroup/testing/build.ts";
import { type Harness, harness } from "../cgroup/testing/harness.ts";
import { toPodFacts } from "./facts.ts";
import { FailureReporter } from "./failures.ts";
import { createPodsMetrics } from "./metrics.ts";
import { containerStatus, podStatus, running, terminated } from "./testing/kubelet.ts";
import { podObject } from "./testing/pods.ts";

describe("a kubelet OOMKilled is checked against the kernel's oom_kill counter", () => {
  let h: Harness;
  let pod: FixturePod;
  let out: WireEvent[];
  let lines: Record<string, unknown>[];
  let reporter: FailureReporter;
  let registry: ReturnType<typeof createRegistry>;
  const t0 = Date.UTC(2026, 0, 1);
  const id = () => `cri-o://${pod.containers[0]?.id}`;

  /** The pod as the watch shows it: running, or terminated with `reason`/`exitCode`. */
  const facts = (end?: { reason: string; exitCode: number }, deletedAtMs?: number) =>
    toPodFacts(
      podObject(
        pod.name,
        { containers: [{ name: "app", image: "app:1" }] },
        podStatus({
          phase: "Running",
          createdAtMs: t0,
          scheduledAtMs: t0,
          containerStatuses: [
            containerStatus({
              name: "app",
              restartCount: 0,
              id: id(),
              state: end ? terminated(end.reason, end.exitCode, t0, h.clock.now(), id()) : running(t0),
            }),
          ],
        }),
        { uid: pod.uid, namespace: pod.namespace, createdAtMs: t0, deletedAtMs },
      ),
      "node-1",
    );

  beforeEach(async () => {
    h = await harness({ version: 1, driver: "cgroupfs" });
    pod = makePod("Burstable", "crio", ["app"]);
    await h.fixture.addPod(pod);
    h.pods.set(podView(pod));
    out = [];
    lines = [];
    registry = createRegistry({ defaultMetrics: false });
    reporter = new FailureReporter({
      clock: h.clock,
      sink: { emit: (e) => out.push(e) },
      settings: { extraReasons: ["Error"], cooldownMs: 180_000 },
      kernel: h.sampler,
      log: createLogger({ level: "info", destination: { write: (s: string) => lines.push(JSON.parse(s)) } }),
      notCounted: createPodsMetrics(registry).oomReportsNotCounted,
    });
    await h.sampler.scanOnce(); // the counter's baseline
    reporter.observe(undefined, facts());
  });
  afterEach(() => h.close());

  const notCounted = async (cause: string) =>
    (await registry.getSingleMetric("kernel_gossip_agent_oom_reports_not_counted_total")?.get())?.values.find(
      (v) => v.labels.cause === cause,
    )?.value ?? 0;

  it("a crash after a child's kill: not an OOM kill, sent as the Error it is", async () => {
    await h.fixture.writeOomKills(pod, pod.containers[0], 1);
    h.clock.advance(10_000);
    await h.sampler.scanOnce(); // the child's kill: a kernel OOM
    expect(h.sink.events.map((e) => e.oom?.mainProcessSurvived)).toEqual([true]);
    h.clock.advance(5_000);
    reporter.observe(facts(), facts({ reason: "OOMKilled", exitCode: 1 }));
    await expect.poll(() => out.length).toBe(1);
    expect(out[0]?.failure).toMatchObject({ reason: "Error", lastReason: "OOMKilled", exitCode: 1 });
    expect(out[0]?.id).toMatch(/\/Error$/);
    expect(await notCounted("kernel-counter-unchanged")).toBe(1);
    expect(lines.find((l) => l.cause === "kernel-counter-unchanged")?.msg).toMatch(
      /^OOMKilled termination of shop\/pod-\w+ container app \(exit code 1\) not counted as an OOM kill: the container's oom_kill counter did not move/,
    );
  });

  it("the pod's deletion after a child's kill: no kill counted, nothing sent", async () => {
    await h.fixture.writeOomKills(pod, pod.containers[0], 1);
    h.clock.advance(10_000);
    await h.sampler.scanOnce();
    reporter.observe(facts(), facts({ reason: "OOMKilled", exitCode: 143 }, h.clock.now()));
    await expect.poll(() => notCounted("pod-deleted")).toBe(1);
    expect(out).toEqual([]);
  });

  it("a kill of the main process the counter confirms is counted once, by the kubelet's report", async () => {
    await h.fixture.writeOomKills(pod, pod.containers[0], 1); // before any scan saw it
    reporter.observe(facts(), facts({ reason: "OOMKilled", exitCode: 137 }));
    await expect.poll(() => out.length).toBe(1);
    expect(out[0]?.failure).toMatchObject({ reason: "OOMKilled", exitCode: 137 });
    h.pods.set(podView(pod, false));
    h.clock.advance(10_000);
    await h.sampler.scanOnce();
    expect(h.sink.events).toEqual([]); // the kernel side does not count it again
    expect(await notCounted("kernel-counter-unchanged")).toBe(0);
  });
});
