// Reading one cgroup's files with the error policy in one place:
//   - ENOENT because the cgroup directory is gone → VANISHED (the container went away; silent);
//   - ENOENT of a file in a cgroup that still exists → counted once, then not read again for
//     that cgroup (a kernel without PSI has no cpu.pressure, for instance);
//   - anything else (EACCES, EISDIR, EIO, empty, malformed) → counted every time and logged
//     once per file and error, the figure skipped for this scan only.
import { basename } from "node:path";
import type { Logger } from "../../shared/log.ts";
import type { PodView } from "../types/index.ts";
import { type CgroupFiles, parseMemoryLimit } from "./files.ts";
import type { CgroupLocator } from "./locator.ts";
import type { CgroupMetrics } from "./metrics.ts";
import { parseSingle } from "./parse.ts";
import { type CgroupFs, errorCode, isEnoent } from "./reader.ts";

export const VANISHED = Symbol("vanished");
export type ReadResult<T> = { value: T } | typeof VANISHED | undefined;

/** The value of a successful read, else undefined. */
export const got = <T>(r: ReadResult<T>): T | undefined => (typeof r === "object" ? r.value : undefined);

const MAX_LOGGED = 1000;

export class FileReads {
  readonly #fs: CgroupFs;
  readonly #metrics: CgroupMetrics;
  readonly #log: Logger;
  readonly #absent = new Map<string, Set<string>>();
  readonly #logged = new Set<string>();
  errors = 0;

  constructor(fs: CgroupFs, metrics: CgroupMetrics, log: Logger) {
    this.#fs = fs;
    this.#metrics = metrics;
    this.#log = log;
  }

  /**
   * `optional`: a file some kernels or configurations do not have (cpu.pressure without PSI,
   * memory.peak before 5.19, pids.current without the pids controller): its absence is not an
   * error, only a figure that is not available.
   */
  async read<T>(
    files: CgroupFiles,
    path: string | undefined,
    parse: (text: string) => T,
    optional = false,
  ): Promise<ReadResult<T>> {
    if (path === undefined || this.#absent.get(files.dir)?.has(path)) return undefined;
    try {
      return { value: parse(await this.#fs.readFile(path)) };
    } catch (err) {
      return this.#failed(files, path, err, optional);
    }
  }

  /** Several files parsed together (v1 quota + period). */
  async readAll<T>(
    files: CgroupFiles,
    paths: string[],
    parse: (texts: string[]) => T,
  ): Promise<ReadResult<T>> {
    if (paths.length === 0) return undefined;
    const texts: string[] = [];
    for (const path of paths) {
      if (this.#absent.get(files.dir)?.has(path)) return undefined;
      try {
        texts.push(await this.#fs.readFile(path));
      } catch (err) {
        return this.#failed(files, path, err);
      }
    }
    try {
      return { value: parse(texts) };
    } catch (err) {
      return this.#failed(files, paths[0] as string, err);
    }
  }

  /** Memory limit and peak for an OOM event; 0 where unreadable (the event matters more). */
  async memory(files: CgroupFiles, version: 1 | 2): Promise<{ limit: number; peak: number }> {
    const limit = await this.read(files, files.memoryLimit, (t) => parseMemoryLimit(version, t));
    const peak = await this.read(
      files,
      files.memoryPeak,
      (t) => parseSingle(t, basename(files.memoryPeak ?? "")),
      true,
    );
    return {
      limit: got(limit) ?? 0,
      peak: got(peak) ?? 0,
    };
  }

  /** Locates a container cgroup; a listing failure other than ENOENT is counted. */
  async locate(
    locator: CgroupLocator,
    pod: PodView,
    bareId: string,
    scan: number,
  ): Promise<string | undefined> {
    try {
      return await locator.container(pod, bareId, scan);
    } catch (err) {
      this.#count("pod-cgroup-dir", err, `pod ${pod.uid}`);
      return undefined;
    }
  }

  /** Drops what is remembered about a cgroup that went away. */
  forget(files: CgroupFiles): void {
    this.#absent.delete(files.dir);
  }

  async #failed(
    files: CgroupFiles,
    path: string,
    err: unknown,
    optional = false,
  ): Promise<ReadResult<never>> {
    if (isEnoent(err)) {
      if (!(await this.#fs.isDir(files.dir))) return VANISHED;
      const absent = this.#absent.get(files.dir) ?? new Set<string>();
      absent.add(path);
      this.#absent.set(files.dir, absent);
      if (optional) return undefined;
    }
    this.#count(basename(path), err, path);
    return undefined;
  }

  #count(file: string, err: unknown, what: string): void {
    const code = errorCode(err);
    this.errors++;
    this.#metrics.readErrors.inc({ file, error: code });
    const key = `${what}\0${code}`;
    if (this.#logged.has(key)) return;
    if (this.#logged.size >= MAX_LOGGED) this.#logged.clear();
    this.#logged.add(key);
    this.#log.warn(
      { path: what, error: code, err: err instanceof Error ? err.message : String(err) },
      `cannot read cgroup file ${what} (${code}); its figure is skipped (counted in kernel_gossip_agent_cgroup_read_errors_total; logged once). Check that CGROUP_ROOT is the host's cgroup mount and readable by the agent`,
    );
  }
}
