// The pod watch: every pod on this node (field selector spec.nodeName), as PodFacts,
// through a supervised list+watch (shared/supervised-watch.ts, docs/adr/0003-pod-watch.md)
// over the thin client (shared/kube-http.ts).
// `onPod(prev, next)` is called for every change — from a watch event, or from the diff
// of a (re)list against what was known, so a transition that happened while the watch was
// down is still seen exactly once; `next` undefined means the pod is gone.
import type { V1Pod, V1PodList } from "@kubernetes/client-node";
import type { Backoff } from "../../shared/backoff.ts";
import type { Clock } from "../../shared/clock.ts";
import type { KubeHttp } from "../../shared/kube-http.ts";
import type { Logger } from "../../shared/log.ts";
import { SupervisedWatch } from "../../shared/supervised-watch.ts";
import type { PodDirectory } from "../types/index.ts";
import { type PodFacts, toPodFacts } from "./facts.ts";
import type { PodsMetrics } from "./metrics.ts";

export type PodChange = (prev: PodFacts | undefined, next: PodFacts | undefined) => void;

export interface PodWatchSettings {
  /** Restart the watch when nothing (event or bookmark) arrived for this long. */
  staleAfterMs: number;
}

export interface PodWatchOptions {
  kube: KubeHttp;
  nodeName: string;
  clock: Clock;
  log: Logger;
  metrics: PodsMetrics;
  onPod: PodChange;
  settings: PodWatchSettings;
  backoff?: Backoff;
}

export class PodWatch implements PodDirectory {
  #nodeName: string;
  #clock: Clock;
  #onPod: PodChange;
  #log: Logger;
  #pods = new Map<string, PodFacts>();
  #lastActivity: number | undefined;
  #supervisor: SupervisedWatch<V1Pod>;

  constructor(options: PodWatchOptions) {
    this.#nodeName = options.nodeName;
    this.#clock = options.clock;
    this.#onPod = options.onPod;
    const kube = options.kube;
    const fieldSelector = `spec.nodeName=${options.nodeName}`;
    const log = options.log.child({ component: "pod-watch" });
    this.#log = log;
    this.#supervisor = new SupervisedWatch<V1Pod>({
      watcher: kube,
      clock: options.clock,
      log,
      what: `pods on node ${options.nodeName}`,
      list: (resourceVersion) => kube.get<V1PodList>("/api/v1/pods", { fieldSelector, resourceVersion }),
      watchPath: "/api/v1/pods",
      watchQuery: { fieldSelector },
      staleAfterMs: options.settings.staleAfterMs,
      onList: (items) => this.#replace(items),
      onUpsert: (pod) => this.#upsert(pod),
      onDelete: (pod) => this.#delete(pod),
      onRestart: (cause) => options.metrics.watchRestarts.inc({ cause }),
      onActivity: () => {
        this.#lastActivity = this.#clock.monotonic();
      },
      backoff: options.backoff,
    });
    options.metrics.observeWatch({
      lastEventAgeSeconds: () =>
        this.#lastActivity === undefined ? undefined : (this.#clock.monotonic() - this.#lastActivity) / 1000,
      podCount: () => this.#pods.size,
    });
  }

  start(): void {
    this.#supervisor.start();
  }

  stop(): void {
    this.#supervisor.stop();
  }

  /** True once the first list arrived (for /readyz). */
  ready(): boolean {
    return this.#supervisor.listed;
  }

  pods(): Iterable<PodFacts> {
    return this.#pods.values();
  }

  byUid(uid: string): PodFacts | undefined {
    return this.#pods.get(uid);
  }

  #replace(items: V1Pod[]): void {
    const seen = new Set<string>();
    for (const pod of items) {
      const uid = pod.metadata?.uid;
      if (!uid) continue;
      seen.add(uid);
      this.#upsert(pod);
    }
    for (const [uid, prev] of [...this.#pods]) {
      if (seen.has(uid)) continue;
      this.#pods.delete(uid);
      this.#notify(prev, undefined);
    }
  }

  #upsert(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const prev = this.#pods.get(uid);
    if (prev && prev.resourceVersion === (pod.metadata?.resourceVersion ?? "")) return;
    const next = toPodFacts(pod, this.#nodeName);
    this.#pods.set(uid, next);
    this.#notify(prev, next);
  }

  #delete(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const prev = this.#pods.get(uid);
    if (!prev) return;
    this.#pods.delete(uid);
    this.#notify(prev, undefined);
  }

  /** One pod's handling failing must not cost the others their turn. */
  #notify(prev: PodFacts | undefined, next: PodFacts | undefined): void {
    try {
      this.#onPod(prev, next);
    } catch (err) {
      const pod = next ?? prev;
      this.#log.error(
        { err, namespace: pod?.namespace, pod: pod?.name },
        "handling a pod change failed; continuing with the others",
      );
    }
  }
}
