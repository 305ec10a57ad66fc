// `promtool check metrics` (Prometheus' own linter) on a live scrape of a running agent
// and aggregator, after real traffic so that labelled series exist.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Installation, install, scrape, until } from "./harness.ts";

const promtool = spawnSync("promtool", ["--version"]).status === 0;

describe.skipIf(!promtool)("live /metrics", () => {
  let kg: Installation;
  beforeAll(async () => {
    kg = await install();
    await kg.kubectl("create", "namespace", "shop");
    await kg.kubectl(
      "run",
      "cart",
      "-n",
      "shop",
      "--image=shop/cart:1",
      "--overrides",
      JSON.stringify({ spec: { nodeName: "node-1" } }),
    );
    await kg.kubectl(
      "patch",
      "pod",
      "cart",
      "-n",
      "shop",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          phase: "Running",
          containerStatuses: [
            {
              name: "cart",
              image: "shop/cart:1",
              imageID: "",
              containerID: "containerd://0123",
              ready: false,
              started: false,
              restartCount: 2,
              state: {
                waiting: { reason: "CrashLoopBackOff", message: "back-off 20s restarting failed container" },
              },
              lastState: { terminated: { exitCode: 1, reason: "Error" } },
            },
          ],
        },
      }),
    );
    await until("the crash loop's KernelWhisper", async () => {
      const out = await kg.kubectl("get", "kw", "-n", "shop", "-o", "name");
      return out.trim() ? out : undefined;
    });
  }, 60_000);
  afterAll(async () => kg?.close());

  it.each(["agent", "aggregator"] as const)(
    "the %s's exposition has no problem promtool can find",
    async (role) => {
      const port = role === "agent" ? kg.agent.metricsPort : kg.aggregator.metricsPort;
      const text = await scrape(port);
      expect(text).toContain(
        role === "agent" ? "kernel_gossip_agent_events_total" : "kernel_gossip_aggregator_cr_writes_total",
      );
      const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      expect(`${check.stdout}${check.stderr}`.trim()).toBe("");
      expect(check.status).toBe(0);
    },
  );
});

if (!promtool) {
  describe("live /metrics", () => {
    it.skip("promtool is not installed (Debian package prometheus); .ci/run installs it", () => {});
  });
}
