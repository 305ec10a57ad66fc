// The real kernel-gossip processes (`kernel-gossip aggregator|agent`) for the process-level
// cases, started with the project's Node 24 on free ports and waited for until /readyz.
// They run the artifact the image ships, dist/kernel-gossip.mjs (bench/run.ts and the test
// setup build it); BENCH_FROM_SOURCES=1 runs cli/main.ts instead (type stripping), to compare.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { type Child, freePort, REPO_ROOT, startChild, waitFor } from "../proc/child.ts";

/**
 * How the role processes are started: bin/kernel-gossip, the image's entry point — with
 * KERNEL_GOSSIP_BUILD=dist it runs dist/kernel-gossip.mjs with the Node flags the image uses
 * (the script execs Node, so the pid measured is Node's).
 */
export function roleEntry(): { command: string; env: Record<string, string>; label: string } {
  const command = join(REPO_ROOT, "bin/kernel-gossip");
  if (process.env.BENCH_FROM_SOURCES === "1")
    return { command, env: { KERNEL_GOSSIP_BUILD: "" }, label: "TypeScript sources (cli/main.ts)" };
  if (!existsSync(join(REPO_ROOT, "dist/kernel-gossip.mjs")))
    throw new Error(
      "dist/kernel-gossip.mjs is missing: build it with `make build-dist` (or set BENCH_FROM_SOURCES=1)",
    );
  return {
    command,
    env: { KERNEL_GOSSIP_BUILD: "dist" },
    label: "the image's entry point: bin/kernel-gossip → dist/kernel-gossip.mjs",
  };
}

/**
 * The NODE_OPTIONS the aggregator's Deployment ships (deploy/base/aggregator/deployment.yaml),
 * read from the manifest so the benchmark measures what runs in the cluster.
 */
export function deployedAggregatorNodeOptions(): string {
  const { path, env } = manifestEnv("deploy/base/aggregator/deployment.yaml", "Deployment", "aggregator");
  const value = env?.find((e) => e.name === "NODE_OPTIONS")?.value;
  if (value !== undefined) return value;
  throw new Error(
    `${path}: no NODE_OPTIONS in the aggregator container of the Deployment; the benchmark starts the aggregator with the Deployment's Node flags`,
  );
}

/** The env of container `name` in the first `kind` of a manifest; undefined when there is none. */
function manifestEnv(
  file: string,
  kind: string,
  name: string,
): { path: string; env: { name: string; value?: string }[] | undefined } {
  const path = join(REPO_ROOT, file);
  for (const doc of parseAllDocuments(readFileSync(path, "utf8"))) {
    const obj = doc.toJS() as {
      kind?: string;
      spec?: {
        template?: { spec?: { containers?: { name: string; env?: { name: string; value?: string }[] }[] } };
      };
    } | null;
    if (obj?.kind !== kind) continue;
    const container = obj.spec?.template?.spec?.containers?.find((c) => c.name === name);
    return { path, env: container ? (container.env ?? []) : undefined };
  }
  return { path, env: undefined };
}

/**
 * The aggregator's NODE_OPTIONS in the benchmark: the Deployment's (above), unless
 * BENCH_AGGREGATOR_NODE_OPTIONS is set — to "" for a run without V8 flags (side-by-side rows),
 * or to other flags for an experiment (BENCHMARKS.md says when a figure was taken that way).
 */
export function aggregatorNodeOptions(): { value: string; label: string } {
  const override = process.env.BENCH_AGGREGATOR_NODE_OPTIONS;
  if (override !== undefined)
    return {
      value: override,
      label: override ? `NODE_OPTIONS="${override}" (experiment)` : "no V8 flags (experiment)",
    };
  const value = deployedAggregatorNodeOptions();
  return { value, label: `the Deployment's NODE_OPTIONS="${value}"` };
}

/**
 * The aggregator's command-line Node flags, as bin/kernel-gossip passes them to the processes
 * it starts: KERNEL_GOSSIP_AGGREGATOR_NODE_FLAGS split on spaces (none unless set: an
 * experiment). For a case that starts its own Node process instead of the entry point.
 */
export function aggregatorCommandLineFlags(): string[] {
  return (process.env.KERNEL_GOSSIP_AGGREGATOR_NODE_FLAGS ?? "").split(/\s+/).filter(Boolean);
}

export interface RunningRole {
  child: Child;
  metricsUrl: string;
  /** ws://…/stream for the aggregator. */
  streamUrl?: string;
  /** Spawn → first 200 from /readyz (polled every 25 ms). */
  readyMs: number;
}

/**
 * BENCH_PROFILE_DIR=<dir> runs the kernel-gossip processes under `--cpu-prof --heap-prof`;
 * they write their profiles there when stopped (summarise with bench/profile/summarize.ts).
 */
function profileFlags(name: string): string {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return "";
  return `--cpu-prof --cpu-prof-dir=${join(dir, name)} --heap-prof --heap-prof-dir=${join(dir, name)}`;
}

async function ready(child: Child, metricsPort: number, timeoutMs: number): Promise<void> {
  await waitFor(
    `${child.name} /readyz`,
    async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`, {
        signal: AbortSignal.timeout(2_000),
      });
      return res.ok ? true : undefined;
    },
    { timeoutMs, intervalMs: 25, child },
  );
}

export async function startAggregator(options: {
  logDir: string;
  kubeconfig: string;
  /** --static-tokens entries. */
  tokens: string[];
  args?: string[];
  env?: Record<string, string>;
  name?: string;
}): Promise<RunningRole> {
  const listenPort = await freePort();
  const metricsPort = await freePort();
  const t0 = performance.now();
  const child = startChild({
    name: options.name ?? "aggregator",
    logDir: options.logDir,
    command: roleEntry().command,
    args: [
      "aggregator",
      "--stream-port",
      String(listenPort),
      "--metrics-port",
      String(metricsPort),
      "--kubeconfig",
      options.kubeconfig,
      "--cluster-name",
      "bench",
      "--auth-mode",
      "static",
      ...(options.args ?? []),
      // Experiments only (BENCHMARKS.md says when a figure was taken with them).
      ...(process.env.BENCH_AGGREGATOR_ARGS?.split(" ").filter(Boolean) ?? []),
    ],
    // Tokens via the environment (it may be long and is secret-ish).
    env: {
      ...roleEntry().env,
      STATIC_TOKENS: options.tokens.join(","),
      POD_NAME: "aggregator-bench-0",
      // Synthetic agents report made-up pods (no pod objects exist): node binding off.
      VERIFY_PODS: "false",
      // As the Deployment runs it (its NODE_OPTIONS), plus the profiler when asked for.
      NODE_OPTIONS: [aggregatorNodeOptions().value, profileFlags(options.name ?? "aggregator")]
        .filter(Boolean)
        .join(" "),
      ...options.env,
    },
  });
  try {
    await ready(child, metricsPort, 30_000);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return {
    child,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    streamUrl: `ws://127.0.0.1:${listenPort}/stream`,
    readyMs: performance.now() - t0,
  };
}

/**
 * The runtime's environment for the agent as its DaemonSet sets it
 * (deploy/base/agent/daemonset.yaml, container "agent"): NODE_OPTIONS and the glibc malloc
 * (MALLOC_*) and libuv (UV_*) variables with a literal value — read from the manifest, so
 * every case that starts an agent measures what runs on the nodes. The agent's own options
 * (NODE_NAME, AGGREGATOR_URL, …) are not carried over: the benchmark passes its own.
 */
export function deployedAgentRuntimeEnv(): Record<string, string> {
  const { path, env } = manifestEnv("deploy/base/agent/daemonset.yaml", "DaemonSet", "agent");
  if (!env) {
    throw new Error(
      `${path}: no DaemonSet with an "agent" container; the benchmark starts the agent with its environment`,
    );
  }
  return Object.fromEntries(
    env
      .filter((e) => e.value !== undefined && /^(NODE_OPTIONS|MALLOC_\w+|UV_\w+)$/.test(e.name))
      .map((e) => [e.name, String(e.value)]),
  );
}

/**
 * The agent's runtime environment in the benchmark: the DaemonSet's (above), unless
 * BENCH_AGENT_NODE_OPTIONS replaces its NODE_OPTIONS ("" for none) or BENCH_AGENT_ENV
 * ("NAME=value,NAME=" — an empty value removes the variable) changes the rest: experiments,
 * and BENCHMARKS.md says when a figure was taken that way.
 */
export function agentRuntimeEnv(): { env: Record<string, string>; label: string } {
  const env = deployedAgentRuntimeEnv();
  const changes: string[] = [];
  const nodeOptions = process.env.BENCH_AGENT_NODE_OPTIONS;
  if (nodeOptions !== undefined) {
    changes.push(`NODE_OPTIONS="${nodeOptions}"`);
    if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
    else delete env.NODE_OPTIONS;
  }
  for (const kv of (process.env.BENCH_AGENT_ENV ?? "").split(",").filter(Boolean)) {
    const at = kv.indexOf("=");
    const name = at < 0 ? kv : kv.slice(0, at);
    const value = at < 0 ? "" : kv.slice(at + 1);
    changes.push(`${name}=${value}`);
    if (value) env[name] = value;
    else delete env[name];
  }
  const shown = Object.entries(env)
    .map(([k, v]) => (k === "NODE_OPTIONS" ? `${k}="${v}"` : `${k}=${v}`))
    .join(" ");
  return {
    env,
    label: changes.length
      ? `experiment: ${shown || "no runtime variables"} (the DaemonSet's, changed by ${changes.join(" ")})`
      : `the DaemonSet's ${shown || "environment (no runtime variables)"}`,
  };
}

export async function startAgent(options: {
  logDir: string;
  kubeconfig: string;
  node: string;
  aggregatorUrl: string;
  token: string;
  cgroupRoot: string;
  args?: string[];
  env?: Record<string, string>;
}): Promise<RunningRole> {
  const metricsPort = await freePort();
  const runtime = agentRuntimeEnv().env;
  const t0 = performance.now();
  const child = startChild({
    name: "agent",
    logDir: options.logDir,
    command: roleEntry().command,
    args: [
      "agent",
      "--node-name",
      options.node,
      "--cluster-name",
      "bench",
      "--aggregator-url",
      options.aggregatorUrl,
      "--kubeconfig",
      options.kubeconfig,
      "--cgroup-root",
      options.cgroupRoot,
      "--metrics-port",
      String(metricsPort),
      ...(options.args ?? []),
    ],
    env: {
      ...roleEntry().env,
      AGENT_TOKEN: options.token,
      // As the DaemonSet runs it (NODE_OPTIONS, malloc and libuv variables), plus the
      // profiler when asked for.
      ...runtime,
      ...(runtime.NODE_OPTIONS || profileFlags("agent")
        ? { NODE_OPTIONS: [runtime.NODE_OPTIONS, profileFlags("agent")].filter(Boolean).join(" ") }
        : {}),
      ...options.env,
    },
  });
  try {
    await ready(child, metricsPort, 30_000);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { child, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, readyMs: performance.now() - t0 };
}
