// Command-line options, each also readable from an environment variable, validated at
// start-up with a message that names the option, the variable and the bad value.
// A role declares its options once (agent/options.ts, aggregator/options/index.ts); `--help`
// is rendered from the same declaration, so the two never disagree.

export type OptionType =
  | "string"
  | "int"
  | "number"
  | "bool"
  | "duration"
  | "list"
  | "url"
  | "enum"
  | "ratio";

export interface OptionSpec {
  type: OptionType;
  /** Environment variable that sets it when the flag is absent. */
  env: string;
  help: string;
  default?: string;
  required?: boolean;
  min?: number;
  max?: number;
  /** For "enum". */
  values?: readonly string[];
  /** For "url": accepted protocols, e.g. ["ws:", "wss:"]. */
  protocols?: readonly string[];
  /** Never echoed back in errors or logs. */
  secret?: boolean;
  /**
   * Names this setting had before (one release of grace): still accepted, with a one-line
   * deprecation warning naming the new one.
   */
  formerly?: { flag?: string; env?: string };
}

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S["type"] extends "int" | "number" | "duration" | "ratio"
  ? number
  : S["type"] extends "bool"
    ? boolean
    : S["type"] extends "list"
      ? string[]
      : string;

export type Options<T extends OptionSpecs> = {
  [K in keyof T]: T[K] extends { required: true } | { default: string }
    ? ValueOf<T[K]>
    : ValueOf<T[K]> | undefined;
};

export class OptionError extends Error {
  override name = "OptionError";
}

/** camelCase key → --kebab-case flag. */
export const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The release in which the deprecated names (`formerly`) stop being accepted. */
export const DEPRECATED_NAMES_REMOVED_IN = "0.2.0";

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** "500ms", "10s", "3m", "24h" → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? "s"] ?? 1));
}

function convert(key: string, spec: OptionSpec, raw: string, source: string): unknown {
  const shown = spec.secret ? "(hidden)" : JSON.stringify(raw);
  const fail = (why: string): never => {
    throw new OptionError(`invalid ${flagOf(key)} (${source}): ${shown} ${why}`);
  };
  const bounded = (n: number, unit = ""): number => {
    if (spec.min !== undefined && n < spec.min) fail(`is below the minimum ${spec.min}${unit}`);
    if (spec.max !== undefined && n > spec.max) fail(`is above the maximum ${spec.max}${unit}`);
    return n;
  };
  switch (spec.type) {
    case "string":
      if (spec.required && raw.trim() === "") fail("must not be empty");
      return raw;
    case "int": {
      if (!/^-?\d+$/.test(raw.trim())) fail("is not a whole number");
      return bounded(Number(raw));
    }
    case "number": {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) fail("is not a number");
      return bounded(n);
    }
    case "ratio": {
      const percent = raw.trim().endsWith("%");
      const n = Number(percent ? raw.trim().slice(0, -1) : raw);
      if (raw.trim() === "" || !Number.isFinite(n)) fail("is not a ratio (0.25 or 25%)");
      const ratio = percent ? n / 100 : n;
      if (ratio < 0 || ratio > 1) fail("must be between 0 and 1 (or 0% and 100%)");
      return ratio;
    }
    case "bool": {
      const v = raw.trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(v)) return true;
      if (["false", "0", "no", "off"].includes(v)) return false;
      return fail("is not a boolean (true/false)");
    }
    case "duration": {
      const ms = parseDuration(raw);
      if (ms === undefined) fail('is not a duration (e.g. "500ms", "10s", "3m", "24h")');
      return bounded(ms as number, "ms");
    }
    case "list":
      return raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    case "url": {
      let url: URL | undefined;
      try {
        url = new URL(raw);
      } catch {
        fail("is not a URL");
      }
      if (spec.protocols && url && !spec.protocols.includes(url.protocol)) {
        fail(`must use ${spec.protocols.map((p) => `${p}//`).join(" or ")}`);
      }
      return raw;
    }
    case "enum":
      if (!spec.values?.includes(raw)) fail(`is not one of ${spec.values?.join(", ")}`);
      return raw;
  }
}

/**
 * Reads options from argv (`--flag value` or `--flag=value`; bools also bare `--flag`)
 * and then from the environment, applies defaults and validates. Throws OptionError.
 * A deprecated name (`formerly`) still works and calls `warn` once with a one-line notice.
 */
export function parseOptions<T extends OptionSpecs>(
  specs: T,
  argv: readonly string[],
  env: Record<string, string | undefined>,
  warn: (message: string) => void = () => {},
): Options<T> {
  const byFlag = new Map(Object.keys(specs).map((key) => [flagOf(key), key]));
  const oldFlags = new Map<string, string>();
  for (const [key, spec] of Object.entries(specs)) {
    if (spec.formerly?.flag) oldFlags.set(spec.formerly.flag, key);
  }
  const deprecated = (old: string, key: string): void =>
    warn(
      `${old} is deprecated and will be removed in ${DEPRECATED_NAMES_REMOVED_IN}; use ${flagOf(key)} ($${(specs[key] as OptionSpec).env})`,
    );
  const fromArgv = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (!arg.startsWith("--"))
      throw new OptionError(`unexpected argument ${JSON.stringify(arg)}; see --help`);
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const oldKey = oldFlags.get(flag);
    if (oldKey !== undefined) deprecated(flag, oldKey);
    const key = byFlag.get(flag) ?? oldKey;
    if (key === undefined) throw new OptionError(`unknown option ${flag}; see --help`);
    const spec = specs[key] as OptionSpec;
    if (eq !== -1) fromArgv.set(key, arg.slice(eq + 1));
    else if (spec.type === "bool" && (argv[i + 1] === undefined || argv[i + 1]?.startsWith("--"))) {
      fromArgv.set(key, "true");
    } else {
      const value = argv[++i];
      if (value === undefined) throw new OptionError(`option ${flag} needs a value`);
      fromArgv.set(key, value);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const argvValue = fromArgv.get(key);
    const oldEnv = spec.formerly?.env;
    let envName = spec.env;
    if ((env[spec.env] ?? "") === "" && oldEnv !== undefined && (env[oldEnv] ?? "") !== "") {
      envName = oldEnv;
      if (argvValue === undefined) deprecated(`$${oldEnv}`, key);
    }
    const envValue = env[envName];
    if (argvValue !== undefined) out[key] = convert(key, spec, argvValue, "command line");
    else if (envValue !== undefined && envValue !== "")
      out[key] = convert(key, spec, envValue, `$${envName}`);
    else if (spec.default !== undefined) out[key] = convert(key, spec, spec.default, "default");
    else if (spec.required) {
      throw new OptionError(`missing required option ${flagOf(key)} (or $${spec.env}): ${spec.help}`);
    } else out[key] = undefined;
  }
  return out as Options<T>;
}

export function renderHelp(command: string, summary: string, specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([key, spec]) => {
    const kind = spec.type === "enum" ? (spec.values ?? []).join("|") : spec.type;
    const meta = [
      `$${spec.env}`,
      ...(spec.formerly
        ? [
            `formerly ${[spec.formerly.flag, spec.formerly.env && `$${spec.formerly.env}`].filter(Boolean).join(" / ")} (deprecated)`,
          ]
        : []),
      spec.required
        ? "required"
        : spec.default !== undefined
          ? `default ${JSON.stringify(spec.default)}`
          : "optional",
    ];
    return `  ${flagOf(key)} <${kind}>\n      ${spec.help}\n      [${meta.join(", ")}]`;
  });
  return `Usage: kernel-gossip ${command} [options]\n\n${summary}\n\nOptions (each also read from the environment variable shown):\n${rows.join("\n")}\n  --help\n      Print this help and exit.\n`;
}
