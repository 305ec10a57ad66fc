import { afterEach, describe, expect, it } from "vitest";
import { type CgroupFs, nodeCgroupFs } from "./reader.ts";
import { makePod, podView } from "./testing/build.ts";
import { type Harness, harness } from "./testing/harness.ts";

/** A file system whose container cpu.stat reads can be held, to see what happens while a scan is slow. */
function gatedFs() {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let reads = 0;
  let waiting: (() => void) | undefined;
  const fs: CgroupFs = {
    ...nodeCgroupFs,
    readFile: async (path) => {
      if (path.endsWith(".scope/cpu.stat")) {
        reads++;
        waiting?.();
        if (gate) await gate;
      }
      return nodeCgroupFs.readFile(path);
    },
  };
  return {
    fs,
    get reads() {
      return reads;
    },
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate = undefined;
      open?.();
    },
    /** Resolves at the next cpu.stat read. */
    nextRead: () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
      }),
  };
}

const settle = () => new Promise((r) => setImmediate(r));

/** Waits until `n` scans have finished (exactly n: one more fails). */
async function scansDone(h: Harness, n: number): Promise<void> {
  const count = async () =>
    (await h.metrics.scanDuration.get()).values.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0;
  await expect.poll(count, { interval: 5 }).toBe(n);
}

describe("the sampler's timer", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("scans every interval, never starts a scan while one runs, follows a live interval change and stops", async () => {
    const gated = gatedFs();
    h = await harness(
      { version: 2, driver: "systemd" },
      { fs: gated.fs, settings: { scanIntervalMs: 10_000 } },
    );
    const pod = makePod("Burstable", "containerd", ["api"]);
    await h.fixture.addPod(pod);
    h.pods.set(podView(pod));

    gated.hold();
    const firstRead = gated.nextRead();
    h.sampler.start();
    h.clock.advance(0);
    await firstRead;
    expect(gated.reads).toBe(1);
    // The first scan is stuck on a slow read: however much time passes, no second scan starts.
    h.clock.advance(60_000);
    await settle();
    expect(gated.reads).toBe(1);
    await expect(h.sampler.scanOnce()).rejects.toThrow(/already running/);
    gated.release();
    await scansDone(h, 1);

    // The next scan comes one interval after the previous one ended.
    const second = gated.nextRead();
    h.clock.advance(9_999);
    await settle();
    expect(gated.reads).toBe(1);
    h.clock.advance(1);
    await second;
    expect(gated.reads).toBe(2);
    await scansDone(h, 2);

    // Remote config shortens the interval: the pending timer is replaced.
    h.sampler.configure({ scanIntervalMs: 2_000 });
    const third = gated.nextRead();
    h.clock.advance(2_000);
    await third;
    expect(gated.reads).toBe(3);
    await scansDone(h, 3);

    h.sampler.stop();
    h.clock.advance(60_000);
    await settle();
    expect(gated.reads).toBe(3);
  });
});
