// Which cgroup filesystem the node has, found once at start-up.
//
// v2 (unified): CGROUP_ROOT/cgroup.controllers exists; every controller file lives in one
//   tree. v1: one mount per controller set under CGROUP_ROOT. CPU is either the combined
//   `cpu,cpuacct` mount (usually with `cpu` and `cpuacct` symlinks to it) or separate
//   `cpu` and `cpuacct` mounts; both are handled. A hybrid host (v1 controllers plus an
//   empty `unified` mount) is v1 for our purposes: the controllers are in v1.
// The driver is read from the tree: `kubepods.slice` → systemd, `kubepods` → cgroupfs (also
// under kind's kubelet --cgroup-root=/kubelet: `kubelet.slice/kubelet-kubepods.slice`, `kubelet/kubepods`).
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { FatalError } from "../../shared/errors.ts";
import { type CgroupDriver, cgroupfsPath, systemdPath } from "./paths.ts";

export interface CgroupHierarchies {
  /** cpu.stat and the CFS limit. */
  cpu?: string;
  /** cpuacct.usage (v1); the same as cpu on v2. */
  cpuacct?: string;
  memory?: string;
  pids?: string;
  /** v1 only: a hybrid host's cgroup2 mount (`unified`), read for PSI files only. */
  unified?: string;
}

export interface CgroupLayout {
  version: 1 | 2;
  driver: CgroupDriver;
  root: string;
  /** Absolute directories of the hierarchies found (v2: all equal to root). */
  hierarchies: CgroupHierarchies;
  /** The kubelet's --cgroup-root in parts: [] (the default "/") or ["kubelet"] (kind). */
  kubeletRoot: string[];
  /** "v2/systemd", "v1/cgroupfs", ... for logs and Hello.cgroup_layout. */
  description: string;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function firstDir(root: string, names: readonly string[]): Promise<string | undefined> {
  for (const name of names) {
    const path = join(root, name);
    if (await isDir(path)) return path;
  }
  return undefined;
}

/** kubelet --cgroup-root values looked for: the default, and kind's "/kubelet". */
const KUBELET_ROOTS: readonly string[][] = [[], ["kubelet"]];

async function driverOf(
  hierarchy: string | undefined,
): Promise<{ driver: CgroupDriver; kubeletRoot: string[] }> {
  if (hierarchy !== undefined) {
    for (const root of KUBELET_ROOTS) {
      const parts = [...root, "kubepods"];
      if (await isDir(join(hierarchy, systemdPath(parts)))) return { driver: "systemd", kubeletRoot: root };
      if (await isDir(join(hierarchy, cgroupfsPath(parts)))) return { driver: "cgroupfs", kubeletRoot: root };
    }
  }
  return { driver: "unknown", kubeletRoot: [] };
}

/**
 * Detects version, driver and hierarchy directories under `root`. Throws an Error that
 * says what was expected when `root` holds no cgroup filesystem at all.
 */
export async function detectLayout(root: string): Promise<CgroupLayout> {
  if (await exists(join(root, "cgroup.controllers"))) {
    const { driver, kubeletRoot } = await driverOf(root);
    return {
      version: 2,
      driver,
      root,
      kubeletRoot,
      hierarchies: { cpu: root, cpuacct: root, memory: root, pids: root },
      description: `v2/${driver}`,
    };
  }
  const hierarchies: CgroupHierarchies = {
    cpu: await firstDir(root, ["cpu,cpuacct", "cpu", "cpuacct,cpu"]),
    cpuacct: await firstDir(root, ["cpu,cpuacct", "cpuacct", "cpuacct,cpu"]),
    memory: await firstDir(root, ["memory"]),
    pids: await firstDir(root, ["pids"]),
  };
  if (await exists(join(root, "unified", "cgroup.controllers"))) hierarchies.unified = join(root, "unified");
  if (hierarchies.cpu === undefined && hierarchies.memory === undefined) {
    throw new FatalError(
      `no cgroup filesystem found at ${root} (--cgroup-root / $CGROUP_ROOT): expected cgroup.controllers (cgroup v2) or cpu/ and memory/ mounts (cgroup v1); set CGROUP_ROOT to where the host's /sys/fs/cgroup is mounted`,
    );
  }
  const { driver, kubeletRoot } = await driverOf(hierarchies.cpu ?? hierarchies.memory);
  return { version: 1, driver, root, kubeletRoot, hierarchies, description: `v1/${driver}` };
}
