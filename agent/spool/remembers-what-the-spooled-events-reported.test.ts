import { expect, it } from "vitest";
import { memoryEvent } from "../cgroup/memory-event.ts";
import { kernelOomEvent } from "../cgroup/oom.ts";
import { throttleEvent } from "../cgroup/throttle-event.ts";
import { failureEvent } from "../link/testing/memory-outbox.ts";
import type { PodView } from "../types/index.ts";
import { SpoolMemory } from "./memory.ts";

const pod: PodView = {
  uid: "u-1",
  qosClass: "Burstable",
  ref: { uid: "u-1", namespace: "shop", name: "cart-1", node: "node-a", labels: { app: "cart" } },
  containers: [],
};
const bareId = "a".repeat(64);

function oom(counterValue: number, kills: number) {
  return kernelOomEvent(
    {
      podUid: "u-1",
      container: "app",
      bareId,
      kills,
      counterValue,
      memoryLimitBytes: 1,
      memoryPeakBytes: 1,
      observedAtMs: 1,
      mainProcessSurvived: true,
    },
    pod,
  );
}

const step = (state: "open" | "update" | "resolved", openedAtMs: number, seq: number) =>
  throttleEvent(pod, "app", { state, openedAtMs, seq, demandSamples: [] }, undefined, 0.1, undefined, 2, {
    nodeCpus: 2,
  });

it("remembers reported failures, the highest kernel OOM counter per instance and open throttling episodes, through a snapshot", () => {
  const m = new SpoolMemory();
  m.fold([failureEvent(7, "node-a"), oom(3, 3), oom(5, 2), step("open", 1000, 0), step("update", 1000, 1)]);
  m.fold([oom(4, 1)]); // an older value never lowers the baseline
  const back = SpoolMemory.from(JSON.parse(JSON.stringify(m.toJSON())));
  for (const mem of [m, back]) {
    expect([...mem.reportedIds()]).toEqual([failureEvent(7, "node-a").id]);
    expect(mem.oomBaseline("u-1", "app", bareId)).toBe(5);
    expect(mem.oomBaseline("u-1", "app", "b".repeat(64))).toBeUndefined();
    const episode = mem.openEpisodes().get("u-1/app");
    expect(episode).toMatchObject({ openedAtMs: 1000, seq: 1, limitCores: 0.1 });
    expect(episode?.pod).toMatchObject({
      uid: "u-1",
      namespace: "shop",
      name: "cart-1",
      labels: { app: "cart" },
    });
  }
  back.fold([step("resolved", 1000, 2)]);
  expect(back.openEpisodes().size).toBe(0);
  // A resolve of an older episode does not close a newer one.
  back.fold([step("open", 2000, 0), step("resolved", 1000, 9)]);
  expect(back.openEpisodes().get("u-1/app")?.openedAtMs).toBe(2000);
});

it("remembers an open MemoryPressure episode with its limit and peak until it resolves, through a snapshot", () => {
  const mem = (state: "open" | "update" | "resolved", openedAtMs: number, seq: number) =>
    memoryEvent(
      pod,
      "app",
      {
        state,
        openedAtMs,
        seq,
        triggers: state === "resolved" ? [] : ["NearLimit"],
        peakBytes: 60,
        samples: 2,
      },
      { usageBytes: 61, workingSetBytes: 60, limitBytes: 64, peakBytes: 62 },
      undefined,
      undefined,
      2,
      openedAtMs + seq,
    );
  const m = new SpoolMemory();
  m.fold([mem("open", 1000, 0), mem("update", 1000, 1), step("open", 1000, 0)]);
  const back = SpoolMemory.from(JSON.parse(JSON.stringify(m.toJSON())));
  for (const s of [m, back]) {
    expect(s.openMemoryEpisodes().get("u-1/app")).toMatchObject({
      openedAtMs: 1000,
      seq: 1,
      limitBytes: 64,
      peakBytes: 60,
      pod: { uid: "u-1", name: "cart-1" },
    });
    expect(s.openEpisodes().get("u-1/app")?.seq).toBe(0); // the throttling episode is its own
  }
  back.fold([mem("resolved", 1000, 2)]);
  expect(back.openMemoryEpisodes().size).toBe(0);
  expect(back.openEpisodes().size).toBe(1);
  // A spool written before MemoryPressure existed has no memoryEpisodes: nothing to resume.
  expect(SpoolMemory.from({ reported: [], oom: [], episodes: [] }).openMemoryEpisodes().size).toBe(0);
});
