// Where the numbers were taken: they only mean something next to the machine.
import { execFileSync } from "node:child_process";
import os from "node:os";

export interface MachineInfo {
  os: string;
  kernel: string;
  arch: string;
  cpuModel: string;
  cpus: number;
  totalMemBytes: number;
  node: string;
  commit: string;
}

export function machineInfo(): MachineInfo {
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    // not a git checkout: the figure is still useful without it
  }
  return {
    os: `${os.type()} ${os.version()}`,
    kernel: os.release(),
    arch: os.arch(),
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cpus: os.cpus().length,
    totalMemBytes: os.totalmem(),
    node: process.version,
    commit,
  };
}
