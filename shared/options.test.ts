import { describe, expect, it } from "vitest";
import { AGENT_OPTIONS } from "../agent/options.ts";
import { AGGREGATOR_OPTIONS, checkAggregatorOptions } from "../aggregator/options/index.ts";
import { flagOf, OptionError, type OptionSpecs, parseDuration, parseOptions, renderHelp } from "./options.ts";

const base = { NODE_NAME: "n1", AGGREGATOR_URL: "ws://agg:9400/stream" };

describe("options", () => {
  it("reads every agent option from its environment variable and applies defaults", () => {
    const o = parseOptions(AGENT_OPTIONS, [], { ...base, SCAN_INTERVAL: "5s", THROTTLE_THRESHOLD: "40%" });
    expect(o.nodeName).toBe("n1");
    expect(o.scanInterval).toBe(5_000);
    expect(o.throttleThreshold).toBeCloseTo(0.4);
    expect(o.dedupCooldown).toBe(180_000);
    expect(o.namespaceDeny).toEqual(["kube-system", "kube-public", "kube-node-lease"]);
    expect(o.agentToken).toBeUndefined();
  });

  it("prefers the command line over the environment", () => {
    const o = parseOptions(AGENT_OPTIONS, ["--node-name", "cli-node", "--metrics-port=0"], base);
    expect(o.nodeName).toBe("cli-node");
    expect(o.metricsPort).toBe(0);
  });

  it("names the option, the variable and the value when a value is bad", () => {
    expect(() => parseOptions(AGENT_OPTIONS, [], { ...base, METRICS_PORT: "http" })).toThrow(
      'invalid --metrics-port ($METRICS_PORT): "http" is not a whole number',
    );
    expect(() => parseOptions(AGENT_OPTIONS, [], { ...base, SCAN_INTERVAL: "10" })).toThrow(
      /invalid --scan-interval \(\$SCAN_INTERVAL\): "10" is not a duration/,
    );
    expect(() => parseOptions(AGENT_OPTIONS, [], { ...base, AGGREGATOR_URL: "http://x" })).toThrow(
      /must use ws:\/\/ or wss:\/\//,
    );
    expect(() => parseOptions(AGENT_OPTIONS, [], { ...base, THROTTLE_THRESHOLD: "1.5" })).toThrow(
      /between 0 and 1/,
    );
    expect(() => parseOptions(AGENT_OPTIONS, [], { ...base, LOG_LEVEL: "loud" })).toThrow(
      /is not one of fatal/,
    );
  });

  it("says which required option is missing", () => {
    expect(() => parseOptions(AGENT_OPTIONS, [], { AGGREGATOR_URL: "ws://a" })).toThrow(
      /missing required option --node-name \(or \$NODE_NAME\)/,
    );
  });

  it("never echoes a secret value", () => {
    let message = "";
    try {
      parseOptions(AGGREGATOR_OPTIONS, ["--auth-mode", "static", "--max-connections", "0"], {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("--max-connections");
    const err = (() => {
      try {
        parseOptions({ t: { type: "int", env: "T", secret: true, help: "" } }, [], { T: "hunter2" });
      } catch (e) {
        return e as OptionError;
      }
    })();
    expect(err).toBeInstanceOf(OptionError);
    expect(err?.message).not.toContain("hunter2");
  });

  it("rejects unknown flags and stray arguments", () => {
    expect(() => parseOptions(AGENT_OPTIONS, ["--nope"], base)).toThrow("unknown option --nope; see --help");
    expect(() => parseOptions(AGENT_OPTIONS, ["stray"], base)).toThrow(/unexpected argument/);
  });

  it("parses durations in every unit", () => {
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("1.5s")).toBe(1_500);
    expect(parseDuration("3m")).toBe(180_000);
    expect(parseDuration("24h")).toBe(86_400_000);
    expect(parseDuration("3 days")).toBeUndefined();
  });

  it("renders help listing every option with its variable and default", () => {
    for (const [cmd, specs] of [
      ["agent", AGENT_OPTIONS],
      ["aggregator", AGGREGATOR_OPTIONS],
    ] as const) {
      const help = renderHelp(cmd, "summary", specs);
      for (const [key, spec] of Object.entries(specs)) {
        expect(help).toContain(flagOf(key));
        expect(help).toContain(`$${spec.env}`);
      }
    }
  });

  it("names each setting once: the flag and the environment variable spell the same words", () => {
    // camelCase key → SCREAMING_SNAKE environment variable.
    const envOf = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
    for (const specs of [AGENT_OPTIONS, AGGREGATOR_OPTIONS] as OptionSpecs[]) {
      for (const [key, spec] of Object.entries(specs))
        expect(`${flagOf(key)} ${spec.env}`).toBe(`${flagOf(key)} ${envOf(key)}`);
    }
  });

  it("accepts a former flag name with one deprecation warning naming the new one", () => {
    const warnings: string[] = [];
    const o = parseOptions(AGENT_OPTIONS, ["--token", "t0k", "--ca-file=/ca.pem"], base, (w) =>
      warnings.push(w),
    );
    expect(o.agentToken).toBe("t0k");
    expect(o.aggregatorCaFile).toBe("/ca.pem");
    expect(warnings).toEqual([
      "--token is deprecated and will be removed in 0.2.0; use --agent-token ($AGENT_TOKEN)",
      "--ca-file is deprecated and will be removed in 0.2.0; use --aggregator-ca-file ($AGGREGATOR_CA_FILE)",
    ]);
    const agg = parseOptions(AGGREGATOR_OPTIONS, ["--listen-port", "9500"], {}, (w) => warnings.push(w));
    expect(agg.streamPort).toBe(9500);
    expect(warnings[2]).toBe(
      "--listen-port is deprecated and will be removed in 0.2.0; use --stream-port ($STREAM_PORT)",
    );
    expect(renderHelp("aggregator", "s", AGGREGATOR_OPTIONS)).toContain(
      "formerly --listen-port (deprecated)",
    );
  });

  it("accepts a former environment variable with a warning, the new one winning when both are set", () => {
    const specs = {
      streamPort: { type: "int", env: "STREAM_PORT", formerly: { env: "LISTEN_PORT" }, help: "" },
    } as const;
    const warnings: string[] = [];
    expect(parseOptions(specs, [], { LISTEN_PORT: "1" }, (w) => warnings.push(w)).streamPort).toBe(1);
    expect(warnings).toEqual([
      "$LISTEN_PORT is deprecated and will be removed in 0.2.0; use --stream-port ($STREAM_PORT)",
    ]);
    expect(parseOptions(specs, [], { LISTEN_PORT: "1", STREAM_PORT: "2" }).streamPort).toBe(2);
  });

  it("refuses options that are valid alone but contradict each other", () => {
    const parse = (env: Record<string, string>) => () =>
      checkAggregatorOptions(parseOptions(AGGREGATOR_OPTIONS, [], env));
    expect(parse({ THROTTLE_WARNING: "0.9", THROTTLE_CRITICAL: "0.5" })).toThrow(
      "--throttle-warning ($THROTTLE_WARNING) 0.9 must be below --throttle-critical ($THROTTLE_CRITICAL) 0.5",
    );
    expect(parse({ TLS_CERT_FILE: "/tls.crt" })).toThrow(
      "--tls-cert-file ($TLS_CERT_FILE) is set but --tls-key-file ($TLS_KEY_FILE) is not: set both to serve wss://, or neither for ws://",
    );
    expect(parse({ THROTTLE_WARNING: "0.6", THROTTLE_CRITICAL: "0.9" })).not.toThrow();
  });

  it("keeps every environment variable unique within a role", () => {
    for (const specs of [AGENT_OPTIONS, AGGREGATOR_OPTIONS]) {
      const envs = Object.values(specs).map((s) => s.env);
      expect(new Set(envs).size).toBe(envs.length);
    }
  });
});
