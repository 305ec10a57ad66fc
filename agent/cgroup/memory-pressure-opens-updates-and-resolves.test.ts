import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ThrottleState, wire } from "../../shared/proto.ts";
import { type FixturePod, makePod, podView } from "./testing/build.ts";
import { type Harness, harness, samples } from "./testing/harness.ts";

const MiB = 1024 * 1024;
const LIMIT = 256 * MiB;
const memoryEvents = (h: Harness) => h.sink.events.filter((e) => e.memory);
const states = (h: Harness) => memoryEvents(h).map((e) => e.memory?.state);

describe.each([
  { version: 2 as const, driver: "systemd" as const, qos: "Burstable" as const },
  {
    version: 1 as const,
    driver: "cgroupfs" as const,
    v1Cpu: "separate" as const,
    qos: "Guaranteed" as const,
  },
  { version: 1 as const, driver: "systemd" as const, v1Cpu: "combined" as const, qos: "BestEffort" as const },
])("MemoryPressure on v$version/$driver ($qos)", (options) => {
  let h: Harness;
  let pod: FixturePod;
  const c = () => pod.containers[0] ?? { name: "", id: "", runtime: "containerd" as const };
  const scan = async () => {
    h.clock.advance(10_000);
    return h.sampler.scanOnce();
  };
  const write = (v: Parameters<Harness["fixture"]["writeMemoryUsage"]>[2]) =>
    h.fixture.writeMemoryUsage(pod, c(), v);

  beforeEach(async () => {
    h = await harness(options, {
      memory: { windowMs: 20_000, resolveAfterMs: 20_000, updateIntervalMs: 60_000 },
    });
    pod = makePod(options.qos, "containerd", ["api"]);
    await h.fixture.addPod(pod);
    h.pods.set(podView(pod));
  });
  afterEach(() => h.close());

  it("opens when the working set stays at 95 % of the limit, with the evidence, and resolves after the stable period", async () => {
    // 240 MiB usage of which 40 MiB inactive file cache: a 200 MiB working set (78 %) is calm.
    await write({ usage: 240 * MiB, inactiveFile: 40 * MiB, limit: LIMIT });
    await scan();
    await scan();
    expect(memoryEvents(h)).toHaveLength(0);
    // 248 MiB working set (96.9 %), twice in a row: open.
    await write({ usage: 250 * MiB, inactiveFile: 2 * MiB, limit: LIMIT, hits: 0 });
    await scan();
    expect(memoryEvents(h)).toHaveLength(0); // one sample at the threshold is not persistence
    await scan();
    expect(states(h)).toEqual([ThrottleState.THROTTLE_STATE_OPEN]);
    const open = memoryEvents(h)[0];
    expect(wire.Event.verify(open as object)).toBeNull();
    expect(open?.id).toMatch(new RegExp(`^${pod.uid}/api/memory-pressure/\\d+/open/0$`));
    expect(open?.memory).toMatchObject({
      workingSetBytes: 248 * MiB,
      usageBytes: 250 * MiB,
      limitBytes: LIMIT,
      limitHits: 0,
      triggers: ["NearLimit"],
      cgroupVersion: options.version,
    });
    expect(open?.memory?.windowMinRatio).toBeCloseTo(248 / 256, 6);
    if (options.version === 2) expect(open?.memory?.pressure).toMatchObject({ fullAvg10: 0 });
    else expect(open?.memory?.pressure).toBeUndefined(); // no unified mirror in this tree: not readable, not 0

    // The limit is hit while the working set is at it: reclaim is failing, sent at once.
    await write({ usage: 255 * MiB, inactiveFile: 1 * MiB, limit: LIMIT, hits: 7 });
    await scan();
    expect(states(h)).toEqual([ThrottleState.THROTTLE_STATE_OPEN, ThrottleState.THROTTLE_STATE_UPDATE]);
    expect(memoryEvents(h)[1]?.memory).toMatchObject({
      limitHits: 7,
      limitHitsTotal: 7,
      triggers: ["NearLimit", "LimitHit"],
      workingSetPeakBytes: 254 * MiB,
    });

    // Memory freed: calm, but resolved only after 20 s below the threshold.
    await write({ usage: 100 * MiB, inactiveFile: 10 * MiB, limit: LIMIT, hits: 7 });
    await scan();
    await scan();
    expect(memoryEvents(h)).toHaveLength(2);
    await scan();
    expect(states(h).at(-1)).toBe(ThrottleState.THROTTLE_STATE_RESOLVED);
    const resolved = memoryEvents(h).at(-1);
    expect(resolved?.memory).toMatchObject({
      triggers: [],
      workingSetBytes: 90 * MiB,
      workingSetPeakBytes: 254 * MiB,
    });
    expect(resolved?.id).toBe(open?.id?.replace("/open/0", "/resolved/2"));

    const ws = await samples(h.registry, "kernel_gossip_container_memory_working_set_bytes");
    expect(ws[0]?.value).toBe(90 * MiB);
    expect((await samples(h.registry, "kernel_gossip_container_memory_limit_bytes"))[0]?.value).toBe(LIMIT);
    expect((await samples(h.registry, "kernel_gossip_container_memory_limit_hits_total"))[0]?.value).toBe(7);
  });

  it("reports no limit as no limit: no near-limit episode, no limit series, but a stall still opens one (v2)", async () => {
    await write({ usage: 900 * MiB, inactiveFile: 0 });
    await scan();
    await scan();
    await scan();
    expect(memoryEvents(h)).toHaveLength(0);
    expect(await samples(h.registry, "kernel_gossip_container_memory_limit_bytes")).toEqual([]);
    expect((await samples(h.registry, "kernel_gossip_container_memory_working_set_bytes"))[0]?.value).toBe(
      900 * MiB,
    );
    if (options.version !== 2) return;
    await write({ usage: 900 * MiB, inactiveFile: 0, fullAvg10: 35.5, fullTotalUs: 4_000_000 });
    await scan();
    expect(memoryEvents(h)[0]?.memory).toMatchObject({ limitBytes: 0, triggers: ["Stall"] });
    expect(memoryEvents(h)[0]?.memory?.pressure).toMatchObject({ fullAvg10: 35.5, someStallSeconds: 4 });
  });

  it("applies a live threshold from the aggregator and ignores an invalid one", async () => {
    h.sampler.configureMemory({ openRatio: 0, windowMs: Number.NaN }); // refused: stays 0.9 / 20 s
    await write({ usage: 220 * MiB, inactiveFile: 0, limit: LIMIT }); // 86 %
    await scan();
    await scan();
    expect(memoryEvents(h)).toHaveLength(0);
    h.sampler.configureMemory({ openRatio: 0.85 });
    await scan();
    expect(memoryEvents(h)[0]?.memory).toMatchObject({ triggers: ["NearLimit"], limitBytes: LIMIT });
  });

  it("links a kernel OOM kill to the episode that preceded it", async () => {
    await write({ usage: 250 * MiB, inactiveFile: 0, limit: LIMIT });
    await scan();
    await scan();
    const open = memoryEvents(h)[0];
    expect(open?.memory?.state).toBe(ThrottleState.THROTTLE_STATE_OPEN);
    // A child is OOM-killed; the container's main process survives.
    await write({ usage: 250 * MiB, inactiveFile: 0, limit: LIMIT, hits: 3, oomKills: 1 });
    if (options.version === 1) await h.fixture.writeOomKills(pod, c(), 1);
    await scan();
    await scan();
    const oom = h.sink.events.find((e) => e.oom);
    expect(oom?.oom?.precedingPressure).toEqual({
      openedAtMs: open?.memory?.openedAtMs,
      resolvedAtMs: 0,
      workingSetPeakBytes: 250 * MiB,
      limitBytes: LIMIT,
    });
    // The kill was counted by the scan after the one that opened the episode.
    expect(Number(oom?.observedAtMs) - Number(open?.memory?.openedAtMs)).toBe(10_000);
  });
});
