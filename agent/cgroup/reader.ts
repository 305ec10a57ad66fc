// File access of the sensors, injectable so tests can produce errors root cannot get from
// a real file system (EACCES). Reads are whole-file: cgroup files are tiny.
import { readdir, readFile, stat } from "node:fs/promises";
import { CgroupParseError } from "./parse.ts";

export interface CgroupFs {
  readFile(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
  isDir(path: string): Promise<boolean>;
}

export const nodeCgroupFs: CgroupFs = {
  readFile: (path) => readFile(path, "utf8"),
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
