import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ThrottleState, wire } from "../../shared/proto.ts";
import { type CpuFigures, type FixturePod, makePod, podView } from "./testing/build.ts";
import { type Harness, harness, samples } from "./testing/harness.ts";

// Kernel-like counters: with a 0.5-core limit and 100 ms periods, 100 periods elapse per
// 10 s scan; `share` of them are throttled and each throttled period loses 50 ms.
class Counters {
  v: CpuFigures = { periods: 0, throttled: 0, throttledSeconds: 0, usageSeconds: 0 };
  step(share: number): CpuFigures {
    this.v = {
      periods: this.v.periods + 100,
      throttled: this.v.throttled + Math.round(100 * share),
      throttledSeconds: this.v.throttledSeconds + Math.round(100 * share) * 0.05,
      usageSeconds: this.v.usageSeconds + 4,
    };
    return this.v;
  }
}

describe("CPU throttling signal", () => {
  let h: Harness;
  let pod: FixturePod;
  const counters = new Counters();
  const scan = async (share: number, target = () => pod) => {
    h.clock.advance(10_000);
    const p = target();
    const c = p.containers[0];
    if (!c) throw new Error("fixture pod has no container");
    await h.fixture.writeCpu(p, c, counters.step(share));
    await h.sampler.scanOnce();
  };

  beforeEach(async () => {
    counters.v = { periods: 0, throttled: 0, throttledSeconds: 0, usageSeconds: 0 };
    h = await harness(
      { version: 2, driver: "systemd" },
      { settings: { windowMs: 30_000, resolveAfterMs: 40_000, updateIntervalMs: 30_000 } },
    );
    pod = makePod("Burstable", "containerd", ["api"]);
    await h.fixture.addPod(pod);
    h.pods.set(podView(pod));
    await h.sampler.scanOnce();
  });
  afterEach(() => h.close());

  it("opens once when the window's ratio crosses the threshold, updates at the update interval only, resolves after staying below", async () => {
    await scan(0.1);
    await scan(0.1);
    expect(h.sink.events).toHaveLength(0);
    await scan(0.9); // window (30 s) = 0.1, 0.1, 0.9 → 36.7 % ≥ 25 %
    expect(h.sink.events).toHaveLength(1);
    const open = h.sink.events[0];
    expect(open?.throttle?.state).toBe(ThrottleState.THROTTLE_STATE_OPEN);
    expect(open?.throttle?.throttledRatio).toBeCloseTo(110 / 300, 9);
    expect(open?.throttle?.limitCores).toBe(0.5);
    expect(open?.throttle?.windowSeconds).toBe(30);
    expect(open?.throttle?.nrPeriods).toBe(300);
    expect(open?.throttle?.nrThrottled).toBe(110);
    expect(open?.throttle?.throttledSeconds).toBeCloseTo(5.5, 9);
    expect(open?.throttle?.coresUsed).toBeCloseTo(0.4, 9);
    // The fixture has no thread list: the last interval's upper bound, usage + throttled time
    // (4 s + 90 × 50 ms over 10 s), says how it was computed (ADR 0012).
    expect(open?.throttle?.demandCores).toBeCloseTo((4 + 4.5) / 10, 9);
    expect(open?.throttle?.demandMethod).toBe("cgroup-upper-bound");
    expect(open?.throttle?.limitedBy).toBe("container");
    expect(open?.throttle?.pressureSomeAvg10).toBe(0);
    expect(open?.throttle?.demandSamples).toHaveLength(3);
    expect(open?.id).toBe(`${pod.uid}/api/cpu-throttle/${open?.observedAtMs}/open/0`);
    expect(open?.pod?.name).toBe(pod.name);
    expect(open?.container).toBe("api");
    // The event is a valid wire message.
    expect(wire.Event.verify(open as object)).toBeNull();

    // Still throttled: no event per scan, one update per 30 s.
    await scan(0.9);
    await scan(0.9);
    expect(h.sink.events).toHaveLength(1);
    await scan(0.9);
    expect(h.sink.events).toHaveLength(2);
    expect(h.sink.events[1]?.throttle?.state).toBe(ThrottleState.THROTTLE_STATE_UPDATE);
    expect(h.sink.events[1]?.id).toBe(`${pod.uid}/api/cpu-throttle/${open?.observedAtMs}/update/1`);
    expect(h.sink.events[1]?.throttle?.demandSamples).toHaveLength(3);

    // Dropping below: the 30 s window still holds throttled scans for two scans (60 %, 30 %),
    // then the ratio is below from the third; 40 s later (the seventh) the signal resolves.
    for (let i = 0; i < 6; i++) await scan(0);
    expect(h.sink.events.map((e) => e.throttle?.state)).not.toContain(ThrottleState.THROTTLE_STATE_RESOLVED);
    await scan(0);
    const resolved = h.sink.events.find((e) => e.throttle?.state === ThrottleState.THROTTLE_STATE_RESOLVED);
    expect(resolved?.id).toMatch(
      new RegExp(`^${pod.uid}/api/cpu-throttle/${open?.observedAtMs}/resolved/\\d+$`),
    );
    expect(resolved?.throttle?.throttledRatio).toBeLessThan(0.25);
    // Every sample names its episode by when it opened: the aggregator counts it once by that.
    const episode = open?.throttle?.episodeOpenedAtMs;
    expect(episode).toBe(open?.observedAtMs);
    expect(h.sink.events.map((e) => e.throttle?.episodeOpenedAtMs)).toEqual(h.sink.events.map(() => episode));
    const count = h.sink.events.length;
    for (let i = 0; i < 5; i++) await scan(0);
    expect(h.sink.events).toHaveLength(count);
  });

  it("does not resolve on a short dip below the threshold", async () => {
    await scan(0.9);
    expect(h.sink.events).toHaveLength(1);
    await scan(0.9);
    await scan(0.2);
    await scan(0.1);
    await scan(0.1); // window 0.2,0.1,0.1 → below for 20 s, less than the 40 s resolve period
    await scan(0.9);
    await scan(0.9);
    expect(h.sink.events.map((e) => e.throttle?.state)).not.toContain(ThrottleState.THROTTLE_STATE_RESOLVED);
  });

  it("treats a counter reset (container restart) as a new window, never a negative or huge figure", async () => {
    await scan(0.5);
    await scan(0.5);
    // The kernel counters start again from zero in a new cgroup for the same container.
    counters.v = { periods: 0, throttled: 0, throttledSeconds: 0, usageSeconds: 0 };
    await scan(0.1);
    // The window restarts from the new sample: no ratio until a second sample exists.
    expect(await samples(h.registry, "kernel_gossip_container_cpu_throttled_ratio")).toHaveLength(0);
    expect((await samples(h.registry, "kernel_gossip_container_cpu_periods_total"))[0]?.value).toBe(100);
    await scan(0.1);
    expect((await samples(h.registry, "kernel_gossip_container_cpu_throttled_ratio"))[0]?.value).toBeCloseTo(
      0.1,
      9,
    );
    for (const e of h.sink.events) {
      expect(e.throttle?.coresUsed).toBeGreaterThanOrEqual(0);
      expect(e.throttle?.throttledSeconds).toBeGreaterThanOrEqual(0);
    }
  });

  it("never signals a container without a CPU limit, however throttled its counters look", async () => {
    const unlimited = makePod("Burstable", "containerd", ["batch"]);
    await h.fixture.addPod(unlimited);
    await h.fixture.writeLimit(unlimited, unlimited.containers[0], undefined);
    h.pods.delete(pod.uid);
    h.pods.set(podView(unlimited));
    for (let i = 0; i < 6; i++) await scan(0.9, () => unlimited);
    expect(h.sink.events).toHaveLength(0);
    expect(await samples(h.registry, "kernel_gossip_container_cpu_limit_cores")).toHaveLength(0);
    expect(await samples(h.registry, "kernel_gossip_container_cpu_throttled_ratio")).toHaveLength(0);
    expect(
      (await samples(h.registry, "kernel_gossip_container_cpu_periods_total"))[0]?.value,
    ).toBeGreaterThan(0);
  });

  it("ignores invalid live settings (0 or NaN from a remote config) instead of scanning in a busy loop", async () => {
    h.sampler.configure({ scanIntervalMs: 0, openRatio: 0, windowMs: Number.NaN });
    await scan(0.2);
    await scan(0.2);
    await scan(0.3);
    expect(h.sink.events).toHaveLength(0); // the 25 % threshold still applies: window ratio 23 %
    const scanCount = async () =>
      (await h.metrics.scanDuration.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value;
    h.sampler.start();
    h.clock.advance(0);
    // The timer's first scan (after beforeEach's and the three above) has finished, not merely started.
    await expect.poll(scanCount, { timeout: 10_000 }).toBe(5);
    // The manual clock fires due timers inside advance(), and a scan marks itself running before
    // its first await: had the timer been due, a manual scan right after would be refused.
    h.clock.advance(9_999); // not yet: the interval is still 10 s
    await expect(h.sampler.scanOnce()).resolves.toBeDefined();
    h.clock.advance(1); // now the timer's next scan
    await expect.poll(scanCount).toBe(7);
  });

  it("applies a live threshold change from the aggregator", async () => {
    await scan(0.2);
    await scan(0.2);
    expect(h.sink.events).toHaveLength(0);
    h.sampler.configure({ openRatio: 0.15 });
    await scan(0.2);
    expect(h.sink.events[0]?.throttle?.state).toBe(ThrottleState.THROTTLE_STATE_OPEN);
  });

  it("sends the pod cgroup's figures over the same window on the container's event, never a pod-level event", async () => {
    // The kubelet sets the pod cgroup's quota to the sum of its containers' limits.
    const limited = makePod("Guaranteed", "containerd", ["api"]);
    await h.fixture.addPod(limited);
    await h.fixture.writeLimit(limited, undefined, 1);
    h.pods.delete(pod.uid);
    h.pods.set(podView(limited));
    pod = limited;
    await h.sampler.scanOnce();
    const podCounters = new Counters();
    for (let i = 0; i < 3; i++) {
      await h.fixture.writeCpu(pod, undefined, podCounters.step(0.5));
      await scan(0.5);
    }
    const figures = h.sink.events.at(-1)?.throttle;
    expect(figures?.podLimitCores).toBe(1);
    expect(figures?.podThrottledRatio).toBeCloseTo(0.5, 9);
    expect(h.sink.events.every((e) => e.container === "api")).toBe(true);
  });
});
