// Pod-level CPU figures over the same sliding window, read from the pod cgroup (which sums
// its containers and the sandbox). The sampler puts them on each container's throttle event
// (pod_throttled_ratio, pod_limit_cores, limited_by — ADR 0012); there is no pod-level event:
// KernelWhisper is keyed by container, and one would report the same throttling twice (ADR 0002).

import type { PodView } from "../types/index.ts";
import { cgroupFiles } from "./files.ts";
import { type Instance, newInstance, readInstance } from "./instance.ts";
import type { CgroupLayout } from "./layout.ts";
import { type FileReads, VANISHED } from "./reads.ts";
import type { WindowStats } from "./window.ts";

export interface PodThrottle {
  /** Throttled share of periods over the window; undefined when the pod has no CPU limit. */
  ratio?: number;
  throttledSeconds: number;
  coresUsed: number;
  windowSeconds: number;
  /** undefined = no limit. */
  limitCores?: number;
}

export class PodWindows {
  readonly #layout: CgroupLayout;
  readonly #reads: FileReads;
  readonly #pods = new Map<string, Instance>();

  constructor(layout: CgroupLayout, reads: FileReads) {
    this.#layout = layout;
    this.#reads = reads;
  }

  async sample(pod: PodView, dir: string, scan: number, atMs: number, windowMs: number): Promise<void> {
    let inst = this.#pods.get(pod.uid);
    if (!inst) {
      // Pod-level memory.events would repeat the containers' OOM kills; pressure is per container.
      const files = { ...cgroupFiles(this.#layout, dir), oom: undefined, pressure: undefined };
      inst = newInstance(pod, "", "", files, windowMs);
      this.#pods.set(pod.uid, inst);
    }
    inst.window.windowMs = windowMs;
    const r = await readInstance(this.#reads, this.#layout.version, inst, scan);
    if (r === VANISHED) {
      this.#pods.delete(pod.uid);
      this.#reads.forget(inst.files);
      return;
    }
    if (r.cpu && r.usageSeconds !== undefined)
      inst.window.push({ atMs, ...r.cpu, usageSeconds: r.usageSeconds });
  }

  get(uid: string): PodThrottle | undefined {
    const inst = this.#pods.get(uid);
    const stats = inst?.window.stats();
    if (!inst || !stats) return undefined;
    return {
      ratio: inst.limit === undefined ? undefined : stats.ratio,
      throttledSeconds: stats.throttledSeconds,
      coresUsed: stats.coresUsed,
      windowSeconds: stats.windowSeconds,
      limitCores: inst.limit,
    };
  }

  /** The pod cgroup's last scan interval and CFS limit (undefined = no limit), for the demand estimate. */
  lastStep(uid: string): { step: WindowStats; limitCores?: number } | undefined {
    const inst = this.#pods.get(uid);
    const step = inst?.window.lastStep();
    return inst && step ? { step, limitCores: inst.limit } : undefined;
  }

  /** Forgets pods that left the directory. */
  retain(live: Set<string>): void {
    for (const [uid, inst] of this.#pods) {
      if (live.has(uid)) continue;
      this.#pods.delete(uid);
      this.#reads.forget(inst.files);
    }
  }
}
