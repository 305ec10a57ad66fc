// Is the workload scaled by a HorizontalPodAutoscaler? One LIST of autoscaling/v2 HPAs per
// namespace, cached with a TTL (HPAs change rarely; a stale answer only changes wording).
import { AutoscalingV2Api, type KubeConfig } from "@kubernetes/client-node";
import { LRUCache } from "lru-cache";
import { DEFAULT_REQUEST_TIMEOUT_MS, timeoutOptions } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { WorkloadRef } from "../types/index.ts";

export interface HpaTarget {
  name: string;
  kind: string;
  targetName: string;
}

export interface HpaSource {
  list(namespace: string): Promise<HpaTarget[]>;
}

export function kubeHpaSource(kubeConfig: KubeConfig, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): HpaSource {
  const api = kubeConfig.makeApiClient(AutoscalingV2Api);
  const timeout = timeoutOptions(timeoutMs);
  return {
    async list(namespace) {
      const list = await api.listNamespacedHorizontalPodAutoscaler({ namespace }, timeout);
      return list.items.map((h) => ({
        name: h.metadata?.name ?? "",
        kind: h.spec.scaleTargetRef.kind,
        targetName: h.spec.scaleTargetRef.name,
      }));
    },
  };
}

export interface HpaLookupOptions {
  source: HpaSource;
  log: Logger;
  ttlMs: number;
  maxNamespaces: number;
}

/** findCached: the namespace's HPAs are not cached (find() lists them). */
export const HPA_NOT_CACHED: unique symbol = Symbol("HPAs not cached");

function targetOf(hpas: readonly HpaTarget[], workload: WorkloadRef): string | undefined {
  for (const h of hpas) if (h.kind === workload.kind && h.targetName === workload.name) return h.name;
  return undefined;
}

export class HpaLookup {
  #source: HpaSource;
  #log: Logger;
  #cache: LRUCache<string, HpaTarget[]>;
  #inflight = new Map<string, Promise<HpaTarget[] | undefined>>();

  constructor(options: HpaLookupOptions) {
    this.#source = options.source;
    this.#log = options.log;
    this.#cache = new LRUCache({ max: options.maxNamespaces, ttl: Math.max(1, options.ttlMs) });
  }

  /** Name of the HPA targeting the workload; undefined when none (or when HPAs cannot be read). */
  async find(namespace: string, workload: WorkloadRef): Promise<string | undefined> {
    const hpas = await this.#hpas(namespace);
    return hpas && targetOf(hpas, workload);
  }

  /**
   * find() answered from the cache, without a promise (the pipeline asks once per throttling
   * object and batch); HPA_NOT_CACHED when the namespace's HPAs are not cached: ask find().
   */
  findCached(namespace: string, workload: WorkloadRef): string | undefined | typeof HPA_NOT_CACHED {
    const hpas = this.#cache.get(namespace);
    return hpas ? targetOf(hpas, workload) : HPA_NOT_CACHED;
  }

  async #hpas(namespace: string): Promise<HpaTarget[] | undefined> {
    const cached = this.#cache.get(namespace);
    if (cached) return cached;
    let pending = this.#inflight.get(namespace);
    if (!pending) {
      pending = this.#source
        .list(namespace)
        .then((hpas) => {
          this.#cache.set(namespace, hpas);
          return hpas;
        })
        .catch((err: unknown) => {
          this.#log.warn(
            { err, namespace },
            "cannot list HorizontalPodAutoscalers; recommendations ignore HPAs until it works (check RBAC: list horizontalpodautoscalers.autoscaling)",
          );
          return undefined;
        })
        .finally(() => this.#inflight.delete(namespace));
      this.#inflight.set(namespace, pending);
    }
    return pending;
  }
}
