import { execFileSync, spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { makePod, podView } from "./testing/build.ts";
import { type Harness, harness } from "./testing/harness.ts";

const promtool = spawnSync("promtool", ["--version"]).status === 0;

describe("the sensors' metrics", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it.skipIf(!promtool)(
    `pass promtool check metrics${promtool ? "" : " (skipped: promtool is not on PATH)"}`,
    async () => {
      h = await harness({ version: 2, driver: "systemd" });
      const pod = makePod("Burstable", "crio", ["api", "batch"]);
      await h.fixture.addPod(pod);
      await h.fixture.writeLimit(pod, pod.containers[1], undefined);
      h.pods.set(podView(pod));
      await h.sampler.scanOnce();
      h.clock.advance(10_000);
      await h.fixture.writeCpu(pod, pod.containers[0], {
        periods: 100,
        throttled: 40,
        throttledSeconds: 2,
        usageSeconds: 4,
      });
      await h.sampler.scanOnce();
      const text = await h.registry.metrics();
      expect(text).toContain('kernel_gossip_container_cpu_throttled_ratio{namespace="shop"');
      // No limit → no limit and ratio series for "batch".
      expect(text).not.toMatch(/kernel_gossip_container_cpu_limit_cores\{[^}]*container="batch"/);
      const out = execFileSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      expect(out).toBe("");
    },
  );
});
