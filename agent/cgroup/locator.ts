// Finds pod and container cgroups and caches them: a pod directory is listed once, and
// again only when a container id appears that the last listing did not have. Paths are
// relative to a hierarchy root, so one lookup serves cpu, cpuacct and memory on v1.
import { join } from "node:path";
import type { PodView } from "../types/index.ts";
import type { CgroupLayout } from "./layout.ts";
import { containerIdOfDir, podDirCandidates } from "./paths.ts";
import { type CgroupFs, isEnoent } from "./reader.ts";

interface PodEntry {
  /** Relative pod directory. */
  dir: string;
  /** Bare container id → relative container directory. */
  containers: Map<string, string>;
  /** Scan in which the directory was last listed. */
  listedAt: number;
}

/** How many scans a pod whose cgroup was not found waits before the next attempt. */
const RETRY_MISSING_POD_SCANS = 3;

export class CgroupLocator {
  readonly #layout: CgroupLayout;
  readonly #fs: CgroupFs;
  readonly #base: string;
  readonly #pods = new Map<string, PodEntry>();
  readonly #missing = new Map<string, number>();

  constructor(layout: CgroupLayout, fs: CgroupFs) {
    this.#layout = layout;
    this.#fs = fs;
    // The hierarchy that is listed: cpu on v1 (memory when there is no cpu mount), root on v2.
    this.#base = layout.hierarchies.cpu ?? layout.hierarchies.memory ?? layout.root;
  }

  /** The pod's relative cgroup directory, or undefined when it does not exist (yet). */
  async pod(pod: PodView, scan: number): Promise<PodEntry | undefined> {
    const cached = this.#pods.get(pod.uid);
    if (cached) return cached;
    const failedAt = this.#missing.get(pod.uid);
    if (failedAt !== undefined && scan - failedAt < RETRY_MISSING_POD_SCANS) return undefined;
    for (const dir of podDirCandidates(
      pod.uid,
      pod.qosClass,
      this.#layout.driver,
      this.#layout.kubeletRoot,
    )) {
      const containers = await this.#list(dir);
      if (containers) {
        const entry = { dir, containers, listedAt: scan };
        this.#pods.set(pod.uid, entry);
        this.#missing.delete(pod.uid);
        return entry;
      }
    }
    this.#missing.set(pod.uid, scan);
    return undefined;
  }

  /** The container's relative directory; lists the pod directory again at most once per scan. */
  async container(pod: PodView, bareId: string, scan: number): Promise<string | undefined> {
    const entry = await this.pod(pod, scan);
    if (!entry) return undefined;
    const found = entry.containers.get(bareId);
    if (found !== undefined || entry.listedAt === scan) return found;
    const containers = await this.#list(entry.dir);
    if (!containers) {
      this.forgetPod(pod.uid);
      return undefined;
    }
    entry.containers = containers;
    entry.listedAt = scan;
    return containers.get(bareId);
  }

  /** The cached entry of a pod, without any I/O. */
  cached(uid: string): PodEntry | undefined {
    return this.#pods.get(uid);
  }

  forgetPod(uid: string): void {
    this.#pods.delete(uid);
  }

  /** Pods with a cached cgroup, for eviction of those that left the directory. */
  cachedPods(): IterableIterator<string> {
    return this.#pods.keys();
  }

  forgetMissing(keep: (uid: string) => boolean): void {
    for (const uid of this.#missing.keys()) if (!keep(uid)) this.#missing.delete(uid);
  }

  async #list(dir: string): Promise<Map<string, string> | undefined> {
    let names: string[];
    try {
      names = await this.#fs.readdir(join(this.#base, dir));
    } catch (err) {
      if (isEnoent(err) || (err as { code?: string }).code === "ENOTDIR") return undefined;
      throw err;
    }
    const containers = new Map<string, string>();
    for (const name of names) {
      const id = containerIdOfDir(name);
      if (id !== undefined) containers.set(id, `${dir}/${name}`);
    }
    return containers;
  }
}
