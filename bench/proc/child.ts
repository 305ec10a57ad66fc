// Real processes for the process-level cases: started with the project's Node 24, their
// output kept in a log file (shown when they fail), always stopped in `finally`.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The project's Node 24 (npm package node@24), whatever `node` is on PATH. */
export const NODE_BIN = existsSync(join(REPO_ROOT, "node_modules/.bin/node"))
  ? join(REPO_ROOT, "node_modules/.bin/node")
  : process.execPath;

/** Every child still running: killed if the bench process itself is stopped or exits. */
const live = new Set<ChildProcess>();
/** Temp dirs not yet cleaned up: removed too if the bench process is stopped. */
const dirs = new Set<string>();
let guarded = false;
function guardChildren(): void {
  if (guarded) return;
  guarded = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

/**
 * For the CLI (bench/run.ts): on SIGINT/SIGTERM kill every child and remove every temp dir
 * before exiting. Not installed when the cases run inside a test runner, which owns signals.
 */
export function cleanUpOnSignals(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}: stopping ${live.size} child process(es)\n`);
      for (const child of live) child.kill("SIGKILL");
      if (process.env.BENCH_KEEP !== "1")
        for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
}

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  logFile: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** Last lines of its output, for error messages. */
  tail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** A temp dir that `cleanup()` removes; every case makes one and removes it in finally. */
export function tempDir(prefix: string): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), `kg-bench-${prefix}-`));
  dirs.add(path);
  guardChildren();
  return {
    path,
    cleanup: () => {
      // BENCH_KEEP=1 keeps the logs, kubeconfig and cgroup tree of a run to look at.
      if (process.env.BENCH_KEEP === "1") process.stderr.write(`bench: kept ${path}\n`);
      else rmSync(path, { recursive: true, force: true });
      dirs.delete(path);
    },
  };
}

export function startChild(options: {
  name: string;
  args: string[];
  /** The executable, default the project's Node 24 (NODE_BIN). */
  command?: string;
  env?: Record<string, string>;
  logDir: string;
  /** Receive the child's stdout lines too (they still go to the log file). */
  onLine?: (line: string) => void;
}): Child {
  const logFile = join(options.logDir, `${options.name}.log`);
  const fd = openSync(logFile, "a");
  const child = spawn(options.command ?? NODE_BIN, options.args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", options.onLine ? "pipe" : fd, fd],
  });
  if (options.onLine && child.stdout) {
    let buffered = "";
    const onLine = options.onLine;
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let nl = buffered.indexOf("\n");
      while (nl !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        onLine(line);
        nl = buffered.indexOf("\n");
      }
    });
  }
  guardChildren();
  live.add(child);
  const exited = new Promise<number | string>((done) => {
    child.once("exit", (code, signal) => {
      live.delete(child);
      closeSync(fd);
      done(code ?? signal ?? "unknown");
    });
  });
  if (child.pid === undefined) throw new Error(`could not start ${options.name}`);
  const tail = (lines = 15): string => {
    try {
      return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no output)";
    }
  };
  let stopping: Promise<void> | undefined;
  return {
    name: options.name,
    pid: child.pid,
    process: child,
    logFile,
    exited,
    tail,
    // A profiled process (BENCH_PROFILE_DIR) needs time to write its profiles on exit.
    stop(graceMs = process.env.BENCH_PROFILE_DIR ? 60_000 : 5_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** Polls `check` until it returns a value other than undefined; throws `what` on timeout. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs?: number; child?: Child },
): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await check();
    } catch {
      value = undefined;
    }
    if (value !== undefined) return value;
    if (options.child && options.child.process.exitCode !== null) {
      throw new Error(`${options.child.name} exited while waiting for ${what}:\n${options.child.tail()}`);
    }
    if (performance.now() > deadline) {
      const tail = options.child ? `; last output of ${options.child.name}:\n${options.child.tail()}` : "";
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${tail}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { freePort } from "../../test/ports.ts";
