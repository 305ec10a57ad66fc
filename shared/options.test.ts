import { describe, expect, it } from "vitest";
import { AGENT_OPTIONS } from "../agent/options.ts";
import { AGGREGATOR_OPTIONS } from "../aggregator/options.ts";
import { flagOf, OptionError, parseDuration, parseOptions, renderHelp } from "./options.ts";

const base = { NODE_NAME: "n1", AGGREGATOR_URL: "ws://agg:9400/stream" };

describe("options", () => {
  it("reads every agent option from its environment variable and applies defaults", () => {
    const o = parseOptions(AGENT_OPTIONS, [], { ...base, SCAN_INTERVAL: "5s", THROTTLE_THRESHOLD: "40%" });
    expect(o.nodeName).toBe("n1");
    expect(o.scanInterval).toBe(5_000);
    expect(o.throttleThreshold).toBeCloseTo(0.4);
    expect(o.dedupCooldown).toBe(180_000);
    expect(o.namespaceDeny).toEqual(["kube-system", "kube-public", "kube-node-lease"]);
    expect(o.token).toBeUndefined();
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

  it("keeps every environment variable unique within a role", () => {
    for (const specs of [AGENT_OPTIONS, AGGREGATOR_OPTIONS]) {
      const envs = Object.values(specs).map((s) => s.env);
      expect(new Set(envs).size).toBe(envs.length);
    }
  });
});
