import { describe, expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import { ContainerKind, type WireEvent, wire } from "../../shared/proto.ts";
import { type DetectorSettings, newOccurrences, parseBackoffSeconds } from "./detector.ts";
import { type PodFacts, toPodFacts } from "./facts.ts";
import { FailureReporter } from "./failures.ts";
import { failureCases } from "./testing/cases.ts";
import { containerId, podStatus } from "./testing/kubelet.ts";
import { NODE, podObject } from "./testing/pods.ts";

const AT = Date.UTC(2026, 0, 1, 12);
const KINDS = {
  regular: ContainerKind.CONTAINER_KIND_REGULAR,
  init: ContainerKind.CONTAINER_KIND_INIT,
  sidecar: ContainerKind.CONTAINER_KIND_SIDECAR,
  pod: ContainerKind.CONTAINER_KIND_UNSPECIFIED,
};

/** The events of the failures `next` shows and `prev` did not. */
function detect(prev: PodFacts | undefined, next: PodFacts, s: DetectorSettings): WireEvent[] {
  return newOccurrences(prev, next, s).map((o) => o.event);
}

function settings(extra: string[], nowMs = AT + 120_000): DetectorSettings {
  return { extraReasons: new Set(extra), nowMs, recentMs: 180_000 };
}

/** The detector as the agent runs it: behind the reporter that remembers what it sent. */
function run(
  facts: PodFacts[],
  s: DetectorSettings,
  reporter?: FailureReporter,
  out: WireEvent[] = [],
): WireEvent[] {
  const r =
    reporter ??
    new FailureReporter({
      clock: new ManualClock(s.nowMs),
      sink: { emit: (e) => out.push(e) },
      settings: { extraReasons: [...s.extraReasons], cooldownMs: s.recentMs },
    });
  let prev: PodFacts | undefined;
  for (const next of facts) {
    r.observe(prev, next);
    prev = next;
  }
  return out;
}

describe("failure detector, per kubelet status sequence", () => {
  for (const c of failureCases(AT)) {
    it(`${c.name}: reports each occurrence exactly once`, () => {
      const facts = c.statuses.map((status) =>
        toPodFacts(podObject("p", c.spec, status, { createdAtMs: AT }), NODE),
      );
      const events = run(facts, settings(c.extraReasons));
      expect(events.map((e) => [e.container, e.failure?.reason, e.failure?.restartCount])).toEqual(
        c.expect.map((x) => [x.container, x.reason, x.restartCount]),
      );
      for (const [i, x] of c.expect.entries()) {
        const e = events[i] as WireEvent;
        expect(e.id).toBe(`uid-p/${x.container}/${x.index}/${x.reason}`);
        expect(e.count).toBe(1);
        expect(e.pod?.uid).toBe("uid-p");
        expect(e.pod?.node).toBe(NODE);
        expect(e.failure?.containerKind).toBe(KINDS[x.kind]);
        if (x.exitCode !== undefined) expect(e.failure?.exitCode).toBe(x.exitCode);
        if (x.signal !== undefined) expect(e.failure?.signal).toBe(x.signal);
        if (x.lastReason !== undefined) expect(e.failure?.lastReason).toBe(x.lastReason);
        if (x.backoffSeconds !== undefined) expect(e.failure?.backoffSeconds).toBe(x.backoffSeconds);
        // Every event survives the wire unchanged.
        const decoded = wire.Event.toObject(wire.Event.decode(wire.Event.encode(e).finish()), {
          longs: Number,
        });
        expect(decoded.id).toBe(e.id);
        expect(decoded.failure?.reason).toBe(x.reason);
      }
      // A relist that finds the pod unchanged adds nothing; nor does a watch cache that
      // serves the whole history again, in any order.
      const last = facts.at(-1) as PodFacts;
      expect(detect(last, last, settings(c.extraReasons))).toEqual([]);
      const more: WireEvent[] = [];
      const reporter = new FailureReporter({
        clock: new ManualClock(AT + 120_000),
        sink: { emit: (e) => more.push(e) },
        settings: { extraReasons: c.extraReasons, cooldownMs: 180_000 },
      });
      run(facts, settings(c.extraReasons), reporter);
      const sent = more.length;
      run([last, ...[...facts].reverse(), ...facts], settings(c.extraReasons), reporter);
      expect(more.length).toBe(sent);
    });
  }

  it("reports nothing for the extra reasons while they are switched off", () => {
    for (const name of ["image pull back-off", "eviction"]) {
      const c = failureCases(AT).find((x) => x.name === name);
      if (!c) throw new Error(name);
      const facts = c.statuses.map((status) => toPodFacts(podObject("p", c.spec, status), NODE));
      expect(run(facts, settings([]))).toEqual([]);
    }
  });

  it("does not report exit 137 with reason Error as an OOM, nor at all by default", () => {
    const c = failureCases(AT).find((x) => x.name.startsWith("exit code 137"));
    if (!c) throw new Error("case missing");
    const facts = c.statuses.map((status) => toPodFacts(podObject("p", c.spec, status), NODE));
    expect(run(facts, settings([]))).toEqual([]);
  });

  it("does not report the SIGKILL of a pod being deleted as a failure", () => {
    const c = failureCases(AT).find((x) => x.name === "pod deleted mid-crash-loop");
    if (!c) throw new Error("case missing");
    const last = toPodFacts(podObject("p", c.spec, c.statuses.at(-1)), NODE);
    const killed = podStatus({
      phase: "Running",
      createdAtMs: AT,
      scheduledAtMs: AT + 1_000,
      containerStatuses: [
        {
          name: "app",
          state: {
            terminated: {
              exitCode: 137,
              reason: "Error",
              startedAt: "2026-01-01T12:00:40Z",
              finishedAt: "2026-01-01T12:01:10Z",
              containerID: containerId("k"),
            },
          },
          lastState: {},
          ready: false,
          restartCount: 1,
          image: "x",
          imageID: "",
          started: false,
        },
      ],
    });
    const deleting = toPodFacts(podObject("p", c.spec, killed, { deletedAtMs: AT + 70_000 }), NODE);
    expect(detect(last, deleting, settings(["Error"]))).toEqual([]);
    // Nor the status the kubelet writes when it lost track of the container.
    const unknown = structuredClone(killed) as {
      containerStatuses: { state: { terminated: Record<string, unknown> } }[];
    };
    Object.assign(unknown.containerStatuses[0]?.state.terminated ?? {}, {
      reason: "ContainerStatusUnknown",
      message: "The container could not be located when the pod was terminated",
    });
    expect(detect(last, toPodFacts(podObject("p", c.spec, unknown), NODE), settings(["Error"]))).toEqual([]);
  });

  it("on first sight reports a current crash loop but not an old OOM kill", () => {
    const cases = failureCases(AT);
    const crash = cases.find((x) => x.name === "crash loop");
    const oom = cases.find((x) => x.name === "OOM only in lastState after a fast restart");
    if (!crash || !oom) throw new Error("case missing");
    const looping = toPodFacts(podObject("p", crash.spec, crash.statuses.at(-1)), NODE);
    expect(detect(undefined, looping, settings([])).map((e) => e.id)).toEqual([
      "uid-p/app/1/CrashLoopBackOff",
    ]);
    const restarted = toPodFacts(podObject("q", oom.spec, oom.statuses.at(-1)), NODE);
    // Killed at AT+30s: within the cooldown at AT+2m, long past it at AT+1h.
    expect(detect(undefined, restarted, settings([], AT + 120_000)).map((e) => e.id)).toEqual([
      "uid-q/app/0/OOMKilled",
    ]);
    expect(detect(undefined, restarted, settings([], AT + 3_600_000))).toEqual([]);
  });

  it("carries the kubelet's back-off and the container's memory limit", () => {
    expect(parseBackoffSeconds("back-off 40s restarting failed container=app pod=x_ns(u)")).toBe(40);
    expect(parseBackoffSeconds("Back-off 5m0s restarting failed container=app pod=x_ns(u)")).toBe(300);
    expect(parseBackoffSeconds("Back-off 2m40s restarting failed container=app")).toBe(160);
    expect(parseBackoffSeconds("Error: secret not found")).toBe(0);
    const c = failureCases(AT)[1];
    if (!c) throw new Error("case missing");
    const facts = c.statuses.map((status) => toPodFacts(podObject("p", c.spec, status), NODE));
    expect(run(facts, settings([]))[0]?.failure?.memoryLimitBytes).toBe(128 * 1024 * 1024);
  });
});

describe("failure reporter after a watch outage", () => {
  it("reports a termination of a pod first seen after the gap, even if older than the cooldown", () => {
    const clock = new ManualClock(AT);
    const out: WireEvent[] = [];
    const reporter = new FailureReporter({
      clock,
      sink: { emit: (e) => out.push(e) },
      settings: { extraReasons: [], cooldownMs: 180_000 },
    });
    const cases = failureCases(AT);
    const crash = cases.find((x) => x.name === "crash loop");
    const oom = cases.find((x) => x.name === "OOM only in lastState after a fast restart");
    if (!crash || !oom) throw new Error("case missing");
    reporter.observe(undefined, toPodFacts(podObject("p", crash.spec, crash.statuses[0]), NODE));
    // Ten minutes without anything; the pod was created, OOM-killed (at AT+30s) and restarted meanwhile.
    clock.advance(600_000);
    reporter.observe(undefined, toPodFacts(podObject("q", oom.spec, oom.statuses[1]), NODE));
    expect(out.map((e) => e.id)).toEqual(["uid-q/app/0/OOMKilled"]);
  });
});

describe("occurrence ids", () => {
  it("give one termination the same id in all three shapes the kubelet shows it in", () => {
    const spec = { restartPolicy: "Always", containers: [{ name: "app", image: "i" }] };
    const id2 = containerId("instance-2");
    const oom = {
      terminated: {
        exitCode: 137,
        reason: "OOMKilled",
        startedAt: "2026-01-01T12:00:10Z",
        finishedAt: "2026-01-01T12:01:00Z",
        containerID: id2,
      },
    };
    const status = (
      state: Record<string, unknown>,
      lastState: Record<string, unknown>,
      restartCount: number,
    ) =>
      podStatus({
        phase: "Running",
        createdAtMs: AT,
        scheduledAtMs: AT + 1_000,
        containerStatuses: [
          {
            name: "app",
            state,
            lastState,
            ready: false,
            restartCount,
            image: "i",
            imageID: "",
            started: false,
          },
        ],
      });
    const shapes = [
      status(oom, {}, 2), // just died: the third instance (restartCount 2)
      status(
        { waiting: { reason: "CrashLoopBackOff", message: "back-off 20s restarting failed container=app" } },
        oom,
        2,
      ),
      status({ running: { startedAt: "2026-01-01T12:01:20Z" } }, oom, 3), // restarted
    ];
    for (const shape of shapes) {
      // Seen for the first time by a fresh agent: the id must match what another agent saw.
      const ids = detect(undefined, toPodFacts(podObject("p", spec, shape), NODE), settings([])).map(
        (e) => e.id,
      );
      expect(ids.filter((id) => id?.endsWith("OOMKilled"))).toEqual(["uid-p/app/2/OOMKilled"]);
    }
  });
});
