import { describe, expect, it } from "vitest";
import { AGENT_OPTIONS } from "../../agent/options.ts";
import { toAgentSettings } from "../../agent/remote-config/index.ts";
import { CONFIG_KEYS, parseAgentConfig } from "./parse.ts";

describe("agent ConfigMap parsing", () => {
  it("maps every documented key to the Config frame and the agent reads it back as settings", () => {
    const parsed = parseAgentConfig(
      {
        dedupCooldown: "3m",
        maxBatchEvents: "500",
        flushInterval: "250ms",
        extraReasons: "ImagePullBackOff, Evicted",
        throttleThreshold: "30%",
        throttleResolveAfter: "2m",
        throttleUpdateInterval: "60s",
        memoryThreshold: "85%",
        memoryWindow: "30s",
        memoryStallThreshold: "20",
        memoryResolveAfter: "5m",
        memoryUpdateInterval: "2m",
        scanInterval: "10s",
        namespaceAllow: "shop,payments",
        namespaceDeny: "kube-system",
        namespaceLabelSelector: "kernel-gossip.io/enabled=true,tier in (web, api)",
      },
      "4711",
    );
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.frame).toEqual({
      version: "4711",
      cooldownSeconds: 180,
      maxBatchEvents: 500,
      flushIntervalMs: 250,
      enabledReasons: ["CrashLoopBackOff", "OOMKilled", "ImagePullBackOff", "Evicted"],
      throttleOpenRatio: 0.3,
      throttleResolveSeconds: 120,
      throttleUpdateSeconds: 60,
      memoryOpenRatio: 0.85,
      memoryWindowSeconds: 30,
      memoryStallPercent: 20,
      memoryResolveSeconds: 300,
      memoryUpdateSeconds: 120,
      scanIntervalSeconds: 10,
      namespaceAllow: ["shop", "payments"],
      namespaceDeny: ["kube-system"],
      namespaceLabelSelector: "kernel-gossip.io/enabled=true,tier in (web, api)",
    });
    expect(toAgentSettings(parsed.frame)).toEqual({
      ok: true,
      settings: {
        dedupCooldownMs: 180_000,
        maxBatchEvents: 500,
        flushIntervalMs: 250,
        extraReasons: ["ImagePullBackOff", "Evicted"],
        throttleOpenRatio: 0.3,
        throttleResolveAfterMs: 120_000,
        throttleUpdateIntervalMs: 60_000,
        memoryOpenRatio: 0.85,
        memoryWindowMs: 30_000,
        memoryStallPercent: 20,
        memoryResolveAfterMs: 300_000,
        memoryUpdateIntervalMs: 120_000,
        scanIntervalMs: 10_000,
        namespaceAllow: ["shop", "payments"],
        namespaceDeny: ["kube-system"],
        namespaceLabelSelector: "kernel-gossip.io/enabled=true,tier in (web, api)",
      },
    });
  });

  it("names the key, the value and the reason for every bad entry", () => {
    const parsed = parseAgentConfig(
      {
        dedupCooldown: "3 minutes",
        maxBatchEvents: "20000",
        throttleThreshold: "1.5",
        memoryThreshold: "0",
        memoryStallThreshold: "150%",
        extraReasons: "CrashLoopBackOff,Segfault",
        namespaceDeny: "Kube_System",
        namespaceLabelSelector: "a=b,,=c",
        coolDown: "3m",
      },
      "9",
    );
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const byKey = Object.fromEntries(parsed.problems.map((p) => [p.key, p]));
    expect(Object.keys(byKey).sort()).toEqual(
      [
        "dedupCooldown",
        "maxBatchEvents",
        "throttleThreshold",
        "memoryThreshold",
        "memoryStallThreshold",
        "extraReasons",
        "namespaceDeny",
        "namespaceLabelSelector",
        "coolDown",
      ].sort(),
    );
    expect(byKey.dedupCooldown).toMatchObject({
      value: "3 minutes",
      why: expect.stringContaining("not a duration"),
    });
    expect(byKey.maxBatchEvents?.why).toContain("between 1 and 10000");
    expect(byKey.extraReasons?.why).toContain("Segfault");
    expect(byKey.coolDown?.why).toContain("unknown key");
  });

  it("an empty ConfigMap is a valid config that changes nothing on the agent", () => {
    const parsed = parseAgentConfig({}, "1");
    expect(parsed).toEqual({ ok: true, frame: { version: "1" }, deprecations: [] });
    if (parsed.ok) expect(toAgentSettings(parsed.frame)).toEqual({ ok: true, settings: {} });
  });

  it("accepts the former key names cooldown and enabledReasons with a deprecation naming the new key", () => {
    const parsed = parseAgentConfig({ cooldown: "1m", enabledReasons: "Evicted" }, "3");
    expect(parsed).toEqual({
      ok: true,
      frame: {
        version: "3",
        cooldownSeconds: 60,
        enabledReasons: ["CrashLoopBackOff", "OOMKilled", "Evicted"],
      },
      deprecations: [
        'agent ConfigMap key "cooldown" is deprecated and will be removed in 0.2.0; rename it to "dedupCooldown"',
        'agent ConfigMap key "enabledReasons" is deprecated and will be removed in 0.2.0; rename it to "extraReasons"',
      ],
    });
    const both = parseAgentConfig({ cooldown: "1m", dedupCooldown: "2m" }, "4");
    expect(both.ok).toBe(false);
    if (!both.ok) expect(both.problems[0]?.why).toContain("former name of dedupCooldown");
  });

  it("names every key exactly like the agent option it overrides", () => {
    for (const key of CONFIG_KEYS) expect(Object.keys(AGENT_OPTIONS)).toContain(key);
  });

  it("the agent refuses a frame with out-of-range values even if an aggregator sent it", () => {
    const result = toAgentSettings({
      version: "x",
      maxBatchEvents: 50_000,
      throttleOpenRatio: 3,
      memoryOpenRatio: 1.5,
      memoryStallPercent: 101,
      namespaceDeny: ["A B"],
    });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toHaveLength(5);
  });
});
