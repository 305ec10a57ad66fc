// File access of the sensors, injectable so tests can produce errors root cannot get from
// a real file system (EACCES). Reads are whole-file: cgroup files are tiny.
//
// Two implementations (ADR 0002): `nodeCgroupFs`, the default as designed, reads with
// fs.promises; `syncReadCgroupFs` reads with readFileSync, which measured ~10× less CPU per
// scan (a kernfs read never waits for a disk; fs.promises.readFile makes several threadpool
// round trips for a few hundred bytes). The agent picks one with CgroupSamplerDeps.fs.
import { readFileSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { CgroupParseError } from "./parse.ts";

export interface CgroupFs {
  readFile(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
  isDir(path: string): Promise<boolean>;
}

const isDir = async (path: string): Promise<boolean> => {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
};

/** fs.promises throughout: never blocks the event loop. */
export const nodeCgroupFs: CgroupFs = {
  readFile: (path) => readFile(path, "utf8"),
  readdir: (path) => readdir(path),
  isDir,
};

/** Files read with readFileSync (~10 µs each on kernfs); listings stay asynchronous. */
export const syncReadCgroupFs: CgroupFs = {
  readFile: async (path) => readFileSync(path, "utf8"),
  readdir: (path) => readdir(path),
  isDir,
};

/** The label a read failure is counted under: errno code ("EACCES") or parse kind ("malformed"). */
export function errorCode(err: unknown): string {
  if (err instanceof CgroupParseError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "unknown";
}

export const isEnoent = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === "ENOENT";
