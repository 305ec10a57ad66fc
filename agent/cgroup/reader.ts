// File access of the sensors, injectable so tests can produce errors root cannot get from
// a real file system (EACCES). Reads are whole-file: cgroup files are tiny.
//
// Files are read with readFileSync (ADR 0002): a kernfs read of a few hundred bytes never
// blocks on I/O and costs ~10 µs, while fs.promises.readFile of the same file measured
// ~250 µs of CPU (threadpool hops for open, fstat, read, close) — 30× more for a node's
// ~1,000 files every scan. The interface stays async so tests can inject failures.
import { readFileSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { CgroupParseError } from "./parse.ts";

export interface CgroupFs {
  readFile(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
  isDir(path: string): Promise<boolean>;
}

export const nodeCgroupFs: CgroupFs = {
  readFile: async (path) => readFileSync(path, "utf8"),
  readdir: (path) => readdir(path),
  isDir: async (path) => {
    try {
      return (await stat(path)).isDirectory();
    } catch {
      return false;
    }
  },
};

/** The label a read failure is counted under: errno code ("EACCES") or parse kind ("malformed"). */
export function errorCode(err: unknown): string {
  if (err instanceof CgroupParseError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "unknown";
}

export const isEnoent = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === "ENOENT";
