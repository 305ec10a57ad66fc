// Config frames from the aggregator → settings the agent's modules apply live. Zero and
// empty proto fields mean "unset: keep the local value". A frame with any invalid field is
// refused whole (the previous settings stay) and every problem is named.
import type { Logger } from "../../shared/log.ts";
import type { ConfigFrame } from "../../shared/proto.ts";
import { EXTRA_REASONS, isNamespaceName, KNOWN_REASONS } from "../../shared/vocabulary.ts";
import type { LinkMetrics } from "../link/metrics.ts";

export interface RemoteSettings {
  dedupCooldownMs?: number;
  maxBatchEvents?: number;
  flushIntervalMs?: number;
  /** Reasons reported besides CrashLoopBackOff and OOMKilled ([] = none). */
  extraReasons?: string[];
  throttleOpenRatio?: number;
  throttleResolveAfterMs?: number;
  throttleUpdateIntervalMs?: number;
  memoryOpenRatio?: number;
  memoryWindowMs?: number;
  memoryResolveAfterMs?: number;
  memoryUpdateIntervalMs?: number;
  memoryStallPercent?: number;
  scanIntervalMs?: number;
  namespaceAllow?: string[];
  namespaceDeny?: string[];
  namespaceLabelSelector?: string;
}

const DAY_S = 86_400;

export function toAgentSettings(
  frame: ConfigFrame,
): { ok: true; settings: RemoteSettings } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const settings: RemoteSettings = {};
  const seconds = (name: string, value: number | null | undefined, maxS: number): number | undefined => {
    if (!value) return undefined;
    if (!Number.isInteger(value) || value < 0 || value > maxS) {
      errors.push(`${name}=${value} must be a whole number of seconds between 1 and ${maxS}`);
      return undefined;
    }
    return value * 1000;
  };
  const set = <K extends keyof RemoteSettings>(key: K, value: RemoteSettings[K] | undefined): void => {
    if (value !== undefined) settings[key] = value;
  };

  set("dedupCooldownMs", seconds("cooldown_seconds", frame.cooldownSeconds, DAY_S));
  set("scanIntervalMs", seconds("scan_interval_seconds", frame.scanIntervalSeconds, 3_600));
  set("throttleResolveAfterMs", seconds("throttle_resolve_seconds", frame.throttleResolveSeconds, DAY_S));
  set("throttleUpdateIntervalMs", seconds("throttle_update_seconds", frame.throttleUpdateSeconds, DAY_S));
  set("memoryWindowMs", seconds("memory_window_seconds", frame.memoryWindowSeconds, DAY_S));
  set("memoryResolveAfterMs", seconds("memory_resolve_seconds", frame.memoryResolveSeconds, DAY_S));
  set("memoryUpdateIntervalMs", seconds("memory_update_seconds", frame.memoryUpdateSeconds, DAY_S));
  if (frame.memoryOpenRatio) {
    const r = frame.memoryOpenRatio;
    if (!(r > 0 && r <= 1)) errors.push(`memory_open_ratio=${r} must be above 0 and at most 1`);
    else settings.memoryOpenRatio = r;
  }
  if (frame.memoryStallPercent) {
    const p = frame.memoryStallPercent;
    if (!(p > 0 && p <= 100)) errors.push(`memory_stall_percent=${p} must be above 0 and at most 100`);
    else settings.memoryStallPercent = p;
  }
  if (frame.maxBatchEvents) {
    if (frame.maxBatchEvents > 10_000) errors.push(`max_batch_events=${frame.maxBatchEvents} is above 10000`);
    else settings.maxBatchEvents = frame.maxBatchEvents;
  }
  if (frame.flushIntervalMs) {
    if (frame.flushIntervalMs < 10 || frame.flushIntervalMs > 60_000) {
      errors.push(`flush_interval_ms=${frame.flushIntervalMs} must be between 10 and 60000`);
    } else settings.flushIntervalMs = frame.flushIntervalMs;
  }
  if (frame.throttleOpenRatio) {
    const r = frame.throttleOpenRatio;
    if (!(r > 0 && r <= 1)) errors.push(`throttle_open_ratio=${r} must be above 0 and at most 1`);
    else settings.throttleOpenRatio = r;
  }
  const reasons = frame.enabledReasons ?? [];
  if (reasons.length > 0) {
    const unknown = reasons.filter((r) => !KNOWN_REASONS.includes(r));
    if (unknown.length > 0) errors.push(`enabled_reasons has unknown reason(s) ${unknown.join(", ")}`);
    else settings.extraReasons = reasons.filter((r) => (EXTRA_REASONS as readonly string[]).includes(r));
  }
  for (const [field, key] of [
    ["namespace_allow", "namespaceAllow"],
    ["namespace_deny", "namespaceDeny"],
  ] as const) {
    const names = frame[key] ?? [];
    if (names.length === 0) continue;
    const bad = names.filter((n) => !isNamespaceName(n));
    if (bad.length > 0) errors.push(`${field} has invalid namespace name(s) ${bad.join(", ")}`);
    else settings[key] = [...names];
  }
  if (frame.namespaceLabelSelector) settings.namespaceLabelSelector = frame.namespaceLabelSelector;
  return errors.length > 0 ? { ok: false, errors } : { ok: true, settings };
}

/**
 * The link's onConfig: validates, hands valid settings to `apply` (the wiring into the
 * modules), keeps the applied version for Hello and kernel_gossip_agent_config_info.
 *
 * With `local` (the agent's own settings from flags/env), `apply` receives the local settings
 * overlaid with the remote ones, so a key removed from the ConfigMap — or the whole ConfigMap
 * deleted (an empty frame, version "") — goes back to its local value. Without it, `apply`
 * receives only the keys the frame sets.
 */
export function createConfigApplier(deps: {
  apply: (settings: RemoteSettings, version: string) => void;
  metrics: Pick<LinkMetrics, "configInfo" | "configApplied">;
  log: Logger;
  local?: RemoteSettings;
}): { onConfig(frame: ConfigFrame): void; version(): string } {
  const log = deps.log.child({ component: "remote-config" });
  let version = "";
  deps.metrics.configInfo.set({ version }, 1);
  return {
    version: () => version,
    onConfig(frame) {
      const incoming = frame.version ?? "";
      const result = toAgentSettings(frame);
      if (!result.ok) {
        deps.metrics.configApplied.inc({ outcome: "invalid" });
        log.error(
          { version: incoming, errors: result.errors, keeping: version },
          `refused remote config ${incoming}: ${result.errors.join("; ")}; keeping version "${version}"`,
        );
        return;
      }
      deps.apply(deps.local ? { ...deps.local, ...result.settings } : result.settings, incoming);
      deps.metrics.configApplied.inc({ outcome: "applied" });
      deps.metrics.configInfo.reset();
      deps.metrics.configInfo.set({ version: incoming }, 1);
      log.info({ version: incoming, previous: version, settings: result.settings }, "applied remote config");
      version = incoming;
    },
  };
}
