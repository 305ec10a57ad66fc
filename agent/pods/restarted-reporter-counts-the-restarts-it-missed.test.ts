// After an agent restart (agent/spool, ADR 0013): what the earlier run reported is not
// reported again, and a crash loop first seen again at restart index m counts the restarts
// since the index the earlier run reported.
import { expect, it } from "vitest";
import { ManualClock } from "../../shared/clock.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { toPodFacts } from "./facts.ts";
import { FailureReporter } from "./failures.ts";
import { containerId, waiting } from "./testing/kubelet.ts";
import { NODE, podObject } from "./testing/pods.ts";

const spec = { restartPolicy: "Always", containers: [{ name: "app", image: "i" }] };
const crashLooping = (restartCount: number) =>
  toPodFacts(
    podObject(
      "p",
      spec,
      {
        phase: "Running",
        containerStatuses: [
          {
            name: "app",
            image: "i",
            imageID: "",
            containerID: containerId(`instance-${restartCount}`),
            ready: false,
            restartCount,
            state: waiting("CrashLoopBackOff", "back-off 40s restarting failed container=app"),
            lastState: {},
          },
        ],
      },
      { uid: "uid-p" },
    ),
    NODE,
  );

function reporter(out: WireEvent[]) {
  return new FailureReporter({
    clock: new ManualClock(Date.parse("2026-01-01T12:05:00Z")),
    sink: { emit: (e) => out.push(e) },
    settings: { extraReasons: [], cooldownMs: 180_000 },
  });
}

it("a crash loop the earlier run reported up to restart 3, first seen again at restart 7, counts 4 — once", () => {
  const out: WireEvent[] = [];
  const r = reporter(out);
  r.remember(["uid-p/app/3/CrashLoopBackOff"], new Map([["uid-p/app/CrashLoopBackOff", 3]]));
  r.observe(undefined, crashLooping(7));
  expect(out.map((e) => [e.id, e.count])).toEqual([["uid-p/app/7/CrashLoopBackOff", 4]]);
  // The next restarts are one each; a relist of the same state reports nothing.
  r.observe(crashLooping(7), crashLooping(8));
  r.observe(undefined, crashLooping(8));
  expect(out.map((e) => [e.id, e.count])).toEqual([
    ["uid-p/app/7/CrashLoopBackOff", 4],
    ["uid-p/app/8/CrashLoopBackOff", 1],
  ]);
});

it("the occurrence the earlier run already reported is not reported again by the relist", () => {
  const out: WireEvent[] = [];
  const r = reporter(out);
  r.remember(["uid-p/app/5/CrashLoopBackOff"], new Map([["uid-p/app/CrashLoopBackOff", 5]]));
  r.observe(undefined, crashLooping(5));
  expect(out).toEqual([]);
  r.observe(crashLooping(5), crashLooping(6));
  expect(out.map((e) => [e.id, e.count])).toEqual([["uid-p/app/6/CrashLoopBackOff", 1]]);
});
