// Enrichment: which project and which workload an event is about.
//
// project: the pod's project label, else its namespace's, else the namespace name.
// workload: the pod's workload label, else the top owner through ownerReferences
// (Pod → ReplicaSet → Deployment, Pod → Job → CronJob; StatefulSet, DaemonSet and other
// controllers directly; a bare pod is its own workload). The pod's owners arrive with the
// event; only a ReplicaSet or a Job is fetched, behind a bounded LRU cache with a TTL.
// A failed lookup falls back to the nearest known owner (counted), never drops the event.
import { LRUCache } from "lru-cache";
import type { Logger } from "../../shared/log.ts";
import type { PodRef } from "../../shared/proto.ts";
import type { Enriched, WorkloadRef } from "../types/index.ts";
import type { EnrichMetrics } from "./metrics.ts";
import type { LookupSource, OwnerLink } from "./source.ts";

export { kubeLookupSource, type LookupSource, type OwnerLink } from "./source.ts";

export interface EnricherOptions {
  source: LookupSource;
  log: Logger;
  metrics: Pick<EnrichMetrics, "enrichCacheHits" | "enrichCacheMisses" | "enrichFallbacks">;
  cluster: string;
  projectLabel: string;
  workloadLabel: string;
  cacheSize: number;
  cacheTtlMs: number;
}

type Cached = { owners: OwnerLink[] | null } | { labels: Record<string, string> | null };

/** The controller owner, else the first owner. */
export function controllerOf(owners: readonly OwnerLink[]): OwnerLink | undefined {
  return owners.find((o) => o.controller) ?? owners[0];
}

/** The pod's controller owner, else its first owner (controllerOf without copying the list: per event). */
function controllerOfPod(pod: PodRef): OwnerLink | undefined {
  const owners = pod.owners ?? [];
  const o = owners.find((x) => x.controller === true) ?? owners[0];
  return o ? { kind: o.kind ?? "", name: o.name ?? "", controller: o.controller === true } : undefined;
}

/** The pod's controller owner, else its first owner, as sent (no copy). */
function controllerRefOfPod(pod: PodRef): { kind?: string | null; name?: string | null } | undefined {
  const owners = pod.owners;
  if (!owners || owners.length === 0) return undefined;
  for (const o of owners) if (o.controller === true) return o;
  return owners[0];
}

/**
 * What enrichCached resolved for each pod uid within one synchronous pass over a batch (the
 * cache cannot change during it): an event about the same pod with the same inputs
 * (namespace, name, project and workload labels, controller owner) reuses the result
 * instead of building cache keys and looking them up again. Its cache hits are still
 * counted per event, added to the metric once per pass (Enricher.flush).
 */
export class EnrichMemo {
  readonly pods = new Map<
    string,
    {
      namespace: string | null | undefined;
      name: string | null | undefined;
      projectLabel: string | undefined;
      workloadLabel: string | undefined;
      ownerKind: string | null | undefined;
      ownerName: string | null | undefined;
      enriched: Enriched;
      hits: number;
    }
  >();
  /** The same, by ref object: events about one pod share its ref (pod table, node binding). */
  readonly refs = new Map<PodRef, { enriched: Enriched; hits: number }>();
  /** Cache hits not yet added to the metric. */
  hits = 0;
}

export class Enricher {
  #o: EnricherOptions;
  #cache: LRUCache<string, Cached>;
  #inflight = new Map<string, Promise<Cached>>();
  /** Fallbacks are counted per event but logged once per lookup key per cache TTL. */
  #warned: LRUCache<string, true>;

  constructor(options: EnricherOptions) {
    this.#o = options;
    this.#cache = new LRUCache({ max: options.cacheSize, ttl: Math.max(1, options.cacheTtlMs) });
    this.#warned = new LRUCache({ max: 1000, ttl: Math.max(1, options.cacheTtlMs) });
  }

  /**
   * The enrichment when every lookup it needs is already cached (no promise, counted as
   * hits); undefined when one is missing: then call enrich(), which loads it. The hot path
   * of a batch: cache hits stay synchronous.
   */
  enrichCached(pod: PodRef, memo?: EnrichMemo): Enriched | undefined {
    if (memo) {
      const same = memo.refs.get(pod);
      if (same) {
        memo.hits += same.hits;
        return same.enriched;
      }
      const owner = controllerRefOfPod(pod);
      const projectLabel = pod.labels?.[this.#o.projectLabel];
      const workloadLabel = pod.labels?.[this.#o.workloadLabel];
      const uid = pod.uid ?? "";
      const seen = memo.pods.get(uid);
      if (
        seen &&
        seen.namespace === pod.namespace &&
        seen.name === pod.name &&
        seen.projectLabel === projectLabel &&
        seen.workloadLabel === workloadLabel &&
        seen.ownerKind === owner?.kind &&
        seen.ownerName === owner?.name
      ) {
        memo.hits += seen.hits;
        memo.refs.set(pod, seen);
        return seen.enriched;
      }
      const before = memo.hits;
      const enriched = this.#enrichCached(pod, memo);
      if (enriched) {
        const entry = {
          namespace: pod.namespace,
          name: pod.name,
          projectLabel,
          workloadLabel,
          ownerKind: owner?.kind,
          ownerName: owner?.name,
          enriched,
          hits: memo.hits - before,
        };
        memo.pods.set(uid, entry);
        memo.refs.set(pod, entry);
      }
      return enriched;
    }
    return this.#enrichCached(pod);
  }

  /** Adds the memo's cache hits to the metric (once per batch). */
  flush(memo: EnrichMemo): void {
    if (memo.hits > 0) this.#o.metrics.enrichCacheHits.inc(memo.hits);
    memo.hits = 0;
  }

  #enrichCached(pod: PodRef, memo?: EnrichMemo): Enriched | undefined {
    const project = this.#projectCached(pod);
    if (project === undefined) return undefined;
    const workload = this.#workloadCached(pod);
    if (workload === undefined) return undefined;
    const hits = (project.hit ? 1 : 0) + (workload.hit ? 1 : 0);
    if (memo) memo.hits += hits;
    else if (hits > 0) this.#o.metrics.enrichCacheHits.inc(hits);
    return { cluster: this.#o.cluster, project: project.value, workload: workload.value };
  }

  #projectCached(pod: PodRef): { value: string; hit: boolean } | undefined {
    const namespace = pod.namespace ?? "";
    const own = pod.labels?.[this.#o.projectLabel];
    if (own) return { value: own, hit: false };
    const cached = this.#cache.get(`Namespace//${namespace}`);
    if (!cached) return undefined;
    const labels = "labels" in cached ? cached.labels : null;
    return { value: labels?.[this.#o.projectLabel] || namespace, hit: true };
  }

  #workloadCached(pod: PodRef): { value: WorkloadRef; hit: boolean } | undefined {
    const label = pod.labels?.[this.#o.workloadLabel];
    if (label) return { value: { kind: "Label", name: label }, hit: false };
    const owner = controllerOfPod(pod);
    if (!owner?.kind || !owner.name) return { value: { kind: "Pod", name: pod.name ?? "" }, hit: false };
    if (owner.kind !== "ReplicaSet" && owner.kind !== "Job") {
      return { value: { kind: owner.kind, name: owner.name }, hit: false };
    }
    const cached = this.#cache.get(`${owner.kind}/${pod.namespace ?? ""}/${owner.name}`);
    if (!cached) return undefined;
    const parents = "owners" in cached ? cached.owners : null;
    // A cached "not found" goes through enrich() so the fallback is counted and logged.
    if (parents === null) return undefined;
    const parent = controllerOf(parents);
    if (parent?.kind && parent.name) return { value: { kind: parent.kind, name: parent.name }, hit: true };
    return { value: { kind: owner.kind, name: owner.name }, hit: true };
  }

  async enrich(pod: PodRef): Promise<Enriched> {
    const [project, workload] = await Promise.all([this.#project(pod), this.#workload(pod)]);
    return { cluster: this.#o.cluster, project, workload };
  }

  async #lookup(key: string, load: () => Promise<Cached>): Promise<Cached> {
    const hit = this.#cache.get(key);
    if (hit) {
      this.#o.metrics.enrichCacheHits.inc();
      return hit;
    }
    let pending = this.#inflight.get(key);
    if (pending) {
      this.#o.metrics.enrichCacheHits.inc();
      return pending;
    }
    this.#o.metrics.enrichCacheMisses.inc();
    pending = load()
      .then((value) => {
        this.#cache.set(key, value);
        return value;
      })
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, pending);
    return pending;
  }

  #fallback(reason: string, detail: Record<string, unknown>, err?: unknown): void {
    this.#o.metrics.enrichFallbacks.inc({ reason });
    const key = `${reason}/${JSON.stringify(detail)}`;
    if (this.#warned.has(key)) return;
    this.#warned.set(key, true);
    this.#o.log.warn(
      { ...detail, reason, err: err instanceof Error ? err.message.split("\n")[0] : err },
      "enrichment fell back to the nearest known owner; check the aggregator's RBAC (get replicasets, jobs, namespaces) and API health",
    );
  }

  async #project(pod: PodRef): Promise<string> {
    const namespace = pod.namespace ?? "";
    const own = pod.labels?.[this.#o.projectLabel];
    if (own) return own;
    try {
      const cached = await this.#lookup(`Namespace//${namespace}`, async () => ({
        labels: (await this.#o.source.namespaceLabels(namespace)) ?? null,
      }));
      const labels = "labels" in cached ? cached.labels : null;
      return labels?.[this.#o.projectLabel] || namespace;
    } catch (err) {
      this.#fallback("namespace_lookup_failed", { namespace }, err);
      return namespace;
    }
  }

  async #workload(pod: PodRef): Promise<WorkloadRef> {
    const label = pod.labels?.[this.#o.workloadLabel];
    if (label) return { kind: "Label", name: label };
    const owner = controllerOfPod(pod);
    if (!owner?.kind || !owner.name) return { kind: "Pod", name: pod.name ?? "" };
    if (owner.kind !== "ReplicaSet" && owner.kind !== "Job") return { kind: owner.kind, name: owner.name };
    const namespace = pod.namespace ?? "";
    const expected = owner.kind === "ReplicaSet" ? "Deployment" : "CronJob";
    try {
      const cached = await this.#lookup(`${owner.kind}/${namespace}/${owner.name}`, async () => ({
        owners:
          (await this.#o.source.owners(owner.kind as "ReplicaSet" | "Job", namespace, owner.name)) ?? null,
      }));
      const parents = "owners" in cached ? cached.owners : null;
      if (parents === null) {
        this.#fallback("owner_not_found", { namespace, kind: owner.kind, name: owner.name });
        return this.#guess(pod, owner);
      }
      const parent = controllerOf(parents);
      if (parent?.kind && parent.name) return { kind: parent.kind, name: parent.name };
      return { kind: owner.kind, name: owner.name };
    } catch (err) {
      this.#fallback("owner_lookup_failed", { namespace, kind: owner.kind, name: owner.name, expected }, err);
      return this.#guess(pod, owner);
    }
  }

  /**
   * Best effort without the API: a Deployment's ReplicaSet is named
   * `<deployment>-<pod-template-hash>` and its pods carry that hash; otherwise the owner itself.
   */
  #guess(pod: PodRef, owner: OwnerLink): WorkloadRef {
    const hash = pod.labels?.["pod-template-hash"];
    if (owner.kind === "ReplicaSet" && hash && owner.name.endsWith(`-${hash}`)) {
      return { kind: "Deployment", name: owner.name.slice(0, -hash.length - 1) };
    }
    return { kind: owner.kind, name: owner.name };
  }
}
