// ConfigMap keys → Config frame. Every key is optional; an absent key leaves the agents'
// local setting alone. A bad value fails the whole ConfigMap (the last good config stays)
// and each problem names the key, the value and why. Durations and lists parse exactly
// like the command-line options (shared/options.ts).

import { DEPRECATED_NAMES_REMOVED_IN, parseDuration } from "../../shared/options.ts";
import type { ConfigFrame } from "../../shared/proto.ts";
import { CORE_REASONS, isNamespaceName, KNOWN_REASONS } from "../../shared/vocabulary.ts";

export interface ConfigProblem {
  key: string;
  value: string;
  why: string;
}

export type ParsedConfig =
  | { ok: true; frame: ConfigFrame; deprecations: string[] }
  | { ok: false; problems: ConfigProblem[] };

/** Each key is named exactly like the agent option it overrides (`dedupCooldown` ↔ DEDUP_COOLDOWN). */
export const CONFIG_KEYS = [
  "dedupCooldown",
  "maxBatchEvents",
  "flushInterval",
  "extraReasons",
  "throttleThreshold",
  "throttleResolveAfter",
  "throttleUpdateInterval",
  "memoryThreshold",
  "memoryWindow",
  "memoryStallThreshold",
  "memoryResolveAfter",
  "memoryUpdateInterval",
  "scanInterval",
  "namespaceAllow",
  "namespaceDeny",
  "namespaceLabelSelector",
] as const;

/** Former key names, accepted with a warning until DEPRECATED_NAMES_REMOVED_IN. */
export const FORMER_CONFIG_KEYS: Record<string, (typeof CONFIG_KEYS)[number]> = {
  cooldown: "dedupCooldown",
  enabledReasons: "extraReasons",
};

const LABEL_KEY = "([a-z0-9A-Z]([-a-z0-9A-Z_./]*[a-z0-9A-Z])?)";
const LABEL_VALUE = "([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?";
const SELECTOR_TERM = new RegExp(
  `^(!?${LABEL_KEY}|${LABEL_KEY}\\s*(=|==|!=)\\s*${LABEL_VALUE}|${LABEL_KEY}\\s+(in|notin)\\s+\\(\\s*${LABEL_VALUE}(\\s*,\\s*${LABEL_VALUE})*\\s*\\))$`,
);

const list = (raw: string): string[] =>
  raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

/** Splits a selector on the commas that are not inside "in (...)". */
function selectorTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const c of selector) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      terms.push(current.trim());
      current = "";
    } else current += c;
  }
  terms.push(current.trim());
  return terms;
}

export function parseAgentConfig(data: Record<string, string> | undefined, version: string): ParsedConfig {
  const problems: ConfigProblem[] = [];
  const frame: ConfigFrame = { version };
  const entries = Object.entries(data ?? {});
  const fail = (key: string, value: string, why: string): void => void problems.push({ key, value, why });

  /** Whole seconds (the wire unit); the proto's 0 means "unset", so at least 1 s. */
  const seconds = (key: string, raw: string, minMs = 1_000): number | undefined => {
    const ms = parseDuration(raw);
    if (ms === undefined) return void fail(key, raw, 'is not a duration (e.g. "500ms", "10s", "3m", "24h")');
    if (ms < minMs) return void fail(key, raw, `must be at least ${minMs / 1000}s`);
    if (ms % 1000 !== 0) return void fail(key, raw, "must be whole seconds");
    if (ms / 1000 > 0xffffffff) return void fail(key, raw, "is too long");
    return ms / 1000;
  };

  const deprecations: string[] = [];
  for (const [key, raw] of entries) {
    const renamed = FORMER_CONFIG_KEYS[key];
    if (renamed !== undefined) {
      if (data?.[renamed] !== undefined) {
        fail(key, raw, `is the former name of ${renamed}, which is also set; remove ${key}`);
        continue;
      }
      deprecations.push(
        `agent ConfigMap key "${key}" is deprecated and will be removed in ${DEPRECATED_NAMES_REMOVED_IN}; rename it to "${renamed}"`,
      );
    }
    const value = raw.trim();
    switch (renamed ?? key) {
      case "dedupCooldown":
        frame.cooldownSeconds = seconds(key, value);
        break;
      case "scanInterval":
        frame.scanIntervalSeconds = seconds(key, value);
        break;
      case "throttleResolveAfter":
        frame.throttleResolveSeconds = seconds(key, value);
        break;
      case "throttleUpdateInterval":
        frame.throttleUpdateSeconds = seconds(key, value);
        break;
      case "memoryWindow":
        frame.memoryWindowSeconds = seconds(key, value);
        break;
      case "memoryResolveAfter":
        frame.memoryResolveSeconds = seconds(key, value);
        break;
      case "memoryUpdateInterval":
        frame.memoryUpdateSeconds = seconds(key, value);
        break;
      case "memoryThreshold": {
        const percent = value.endsWith("%");
        const n = Number(percent ? value.slice(0, -1) : value);
        const ratio = percent ? n / 100 : n;
        if (value === "" || !Number.isFinite(n)) fail(key, raw, "is not a ratio (0.9 or 90%)");
        else if (ratio <= 0 || ratio > 1) fail(key, raw, "must be above 0 and at most 1 (or 100%)");
        else frame.memoryOpenRatio = ratio;
        break;
      }
      case "memoryStallThreshold": {
        const n = Number(value.endsWith("%") ? value.slice(0, -1) : value);
        if (value === "" || !Number.isFinite(n)) fail(key, raw, "is not a percentage (10 or 10%)");
        else if (n <= 0 || n > 100) fail(key, raw, "must be above 0 and at most 100");
        else frame.memoryStallPercent = n;
        break;
      }
      case "flushInterval": {
        const ms = parseDuration(value);
        if (ms === undefined) fail(key, raw, 'is not a duration (e.g. "250ms", "1s")');
        else if (ms < 10 || ms > 60_000) fail(key, raw, "must be between 10ms and 60s");
        else frame.flushIntervalMs = ms;
        break;
      }
      case "maxBatchEvents": {
        const n = Number(value);
        if (!/^\d+$/.test(value)) fail(key, raw, "is not a whole number");
        else if (n < 1 || n > 10_000) fail(key, raw, "must be between 1 and 10000");
        else frame.maxBatchEvents = n;
        break;
      }
      case "throttleThreshold": {
        const percent = value.endsWith("%");
        const n = Number(percent ? value.slice(0, -1) : value);
        const ratio = percent ? n / 100 : n;
        if (value === "" || !Number.isFinite(n)) fail(key, raw, "is not a ratio (0.25 or 25%)");
        else if (ratio <= 0 || ratio > 1) fail(key, raw, "must be above 0 and at most 1 (or 100%)");
        else frame.throttleOpenRatio = ratio;
        break;
      }
      case "extraReasons": {
        const reasons = list(value);
        const unknown = reasons.filter((r) => !KNOWN_REASONS.includes(r));
        if (unknown.length > 0)
          fail(key, raw, `unknown reason(s) ${unknown.join(", ")}; known: ${KNOWN_REASONS.join(", ")}`);
        else frame.enabledReasons = [...new Set([...CORE_REASONS, ...reasons])];
        break;
      }
      case "namespaceAllow":
      case "namespaceDeny": {
        const names = list(value);
        const bad = names.filter((n) => !isNamespaceName(n));
        if (bad.length > 0) fail(key, raw, `not valid namespace names: ${bad.join(", ")}`);
        else if (key === "namespaceAllow") frame.namespaceAllow = names;
        else frame.namespaceDeny = names;
        break;
      }
      case "namespaceLabelSelector": {
        const bad = value === "" ? [] : selectorTerms(value).filter((t) => !SELECTOR_TERM.test(t));
        if (bad.length > 0) fail(key, raw, `not a label selector (bad term: ${bad.join(" | ")})`);
        else frame.namespaceLabelSelector = value;
        break;
      }
      default:
        fail(key, raw, `unknown key; known keys: ${CONFIG_KEYS.join(", ")}`);
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, frame, deprecations };
}
