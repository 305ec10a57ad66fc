// `kernel-gossip <agent|aggregator|demo>`: parses options (flags or environment), prints
// a clear message naming any bad value, and runs the role until SIGTERM/SIGINT.
import { AGENT_OPTIONS } from "../agent/options.ts";
import { AGGREGATOR_OPTIONS, checkAggregatorOptions } from "../aggregator/options/index.ts";
import { causeChain, FatalError } from "../shared/errors.ts";
import { OptionError, type OptionSpecs, parseOptions, renderHelp } from "../shared/options.ts";
import { VERSION } from "../shared/version.ts";

/** Deprecated option names: one line on stderr each, before the logger exists. */
const warnDeprecated =
  (command: string) =>
  (message: string): void =>
    void process.stderr.write(`kernel-gossip ${command}: warning: ${message}\n`);

interface Command {
  summary: string;
  options: OptionSpecs;
  run(argv: readonly string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  agent: {
    summary:
      "Per-node agent (DaemonSet): watches this node's pods and cgroups, streams events to the aggregator.",
    options: AGENT_OPTIONS,
    run: async (argv) => {
      const options = parseOptions(AGENT_OPTIONS, argv, process.env, warnDeprecated("agent"));
      const { runAgentProcess } = await import("./run-agent.ts");
      return runAgentProcess(options);
    },
  },
  aggregator: {
    summary:
      "Aggregator (Deployment): accepts agents, enriches events and writes KernelWhispers and PodBirthCertificates.",
    options: AGGREGATOR_OPTIONS,
    run: async (argv) => {
      const options = parseOptions(AGGREGATOR_OPTIONS, argv, process.env, warnDeprecated("aggregator"));
      checkAggregatorOptions(options);
      const { runAggregatorProcess } = await import("./run-aggregator.ts");
      return runAggregatorProcess(options);
    },
  },
  demo: {
    summary:
      "End-to-end demo on this machine: a local Kubernetes API server, the CRDs, an aggregator and an agent for node demo-node, pods that crash-loop, get OOM-killed and throttled, then the real `kubectl get kernelwhispers`. Needs a development checkout (it uses test/kube-api).",
    options: {},
    run: async (argv) => {
      parseOptions({}, argv, {});
      const { runDemo } = await import("../demo/run.ts");
      return runDemo();
    },
  },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `kernel-gossip ${VERSION}: what the kernel knows about your pods, as Kubernetes resources.\n\nUsage: kernel-gossip <command> [options]\n\nCommands:\n${rows.join("\n")}\n\nRun \`kernel-gossip <command> --help\` for a command's options.\n`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "version") {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`kernel-gossip: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(renderHelp(name, command.summary, command.options));
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof OptionError) {
      process.stderr.write(`kernel-gossip ${name}: ${err.message}\n`);
      return 2;
    }
    throw new FatalIn(name, err);
  }
}

/** A failure of a command, remembered with the command's name for the one-line message. */
class FatalIn extends Error {
  readonly command: string;
  constructor(command: string, cause: unknown) {
    super(command, { cause });
    this.command = command;
  }
}

const debugging = (argv: readonly string[]): boolean => {
  const flag = argv.findIndex((a) => a === "--log-level" || a.startsWith("--log-level="));
  const level =
    flag === -1
      ? process.env.LOG_LEVEL
      : argv[flag]?.includes("=")
        ? argv[flag]?.split("=")[1]
        : argv[flag + 1];
  return level === "debug" || level === "trace";
};

/**
 * A fatal error ends the process at once with status 1, whatever is still open (watches,
 * sockets, timers would keep it alive otherwise): one line saying what and what to do; the
 * stack only at debug level.
 */
function fatal(err: unknown, argv: readonly string[]): never {
  const command = err instanceof FatalIn ? err.command : undefined;
  const cause = err instanceof FatalIn ? err.cause : err;
  const prefix = `kernel-gossip${command ? ` ${command}` : ""}:`;
  const line =
    cause instanceof FatalError
      ? `${prefix} ${cause.message}`
      : `${prefix} fatal: ${causeChain(cause)}${debugging(argv) ? "" : " (run with LOG_LEVEL=debug for the stack)"}`;
  process.stderr.write(`${line}\n`);
  if (debugging(argv)) {
    for (let e: unknown = cause; e instanceof Error; e = e.cause) process.stderr.write(`${e.stack}\n`);
  }
  process.exit(1);
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => fatal(err, argv),
);
