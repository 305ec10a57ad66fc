import { expect, it } from "vitest";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { createLinkMetrics } from "../link/metrics.ts";
import { testAgentOptions } from "../testing.ts";
import { localSettings } from "../wiring.ts";
import { createConfigApplier, type RemoteSettings } from "./index.ts";

// What startAgent gives the applier: the agent's own settings from its options.
const local: RemoteSettings = localSettings(testAgentOptions());

it("with the local settings given, a key removed from the ConfigMap (or the ConfigMap deleted) reverts to local", async () => {
  const registry = createRegistry({ defaultMetrics: false });
  const applied: [RemoteSettings, string][] = [];
  const applier = createConfigApplier({
    apply: (s, v) => applied.push([s, v]),
    metrics: createLinkMetrics(registry),
    log: silentLogger(),
    local,
  });
  applier.onConfig({
    version: "10",
    cooldownSeconds: 60,
    enabledReasons: ["CrashLoopBackOff", "OOMKilled", "Evicted"],
  });
  expect(applied.at(-1)).toEqual([{ ...local, dedupCooldownMs: 60_000, extraReasons: ["Evicted"] }, "10"]);
  applier.onConfig({ version: "11", cooldownSeconds: 60 }); // enabledReasons removed
  expect(applied.at(-1)).toEqual([{ ...local, dedupCooldownMs: 60_000 }, "11"]);
  applier.onConfig({ version: "" }); // ConfigMap deleted
  expect(applied.at(-1)).toEqual([local, ""]);
  expect(applier.version()).toBe("");
});

it("an invalid frame changes nothing and is counted; the version stays the last applied", async () => {
  const registry = createRegistry({ defaultMetrics: false });
  const applied: string[] = [];
  const applier = createConfigApplier({
    apply: (_s, v) => applied.push(v),
    metrics: createLinkMetrics(registry),
    log: silentLogger(),
  });
  applier.onConfig({ version: "5", maxBatchEvents: 200 });
  applier.onConfig({ version: "6", maxBatchEvents: 99_999 });
  expect(applied).toEqual(["5"]);
  expect(applier.version()).toBe("5");
  const text = await registry.metrics();
  expect(text).toContain('kernel_gossip_agent_config_applied_total{outcome="invalid"} 1');
  expect(text).toContain('kernel_gossip_agent_config_info{version="5"} 1');
});
