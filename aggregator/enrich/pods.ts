// Node binding of events to pods as the API server has them. An agent may only report pods
// on its own node: the frame handler checks the node the event claims against the
// connection's node, and this checks the claim against the pod itself — its spec.nodeName
// and uid, read with a GET (cached) — and gives the pipeline the pod's labels and owners as
// the API server has them, so enrichment never trusts agent-supplied identity.
//
// Answers per event:
// - "ok": the pod exists with the event's uid, bound to the connection's node; `pod` is
//   the API server's view (labels, owners, qosClass, node);
// - "mismatch": the pod (same uid) runs on another node: the batch is refused with
//   KG_NODE_MISMATCH;
// - "gone": the pod no longer exists (or its name now belongs to a new incarnation) and this
//   replica never saw it alive on that node: the event is dropped (counted, reason
//   pod_not_found). A pod seen alive earlier — a crash loop whose first events arrived
//   while it ran, then deleted — is still accepted from what was seen (the `seen` cache,
//   by uid, for seenTtlMs), because spec.nodeName never changes for a uid.
//
// Caches: by uid for pods seen (bounded LRU, TTL seenTtlMs), by namespace/name for "not
// found" (NOT_FOUND_TTL_MS); concurrent GETs for one pod share one request; at most
// MAX_CONCURRENT_GETS in flight (a flood of made-up pods waits, it does not flood the API).
import { LRUCache } from "lru-cache";
import type { PodRef } from "../../shared/proto.ts";

export interface ApiPod {
  uid: string;
  namespace: string;
  name: string;
  node: string;
  labels: Record<string, string>;
  owners: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean }[];
  qosClass: string;
}

export interface PodSource {
  /** The pod, or undefined when it does not exist. Throws on other errors. */
  pod(namespace: string, name: string): Promise<ApiPod | undefined>;
}

export type Binding =
  | { kind: "ok"; pod: PodRef }
  | { kind: "mismatch"; actualNode: string }
  | { kind: "gone" };

export const NOT_FOUND_TTL_MS = 5_000;
export const MAX_CONCURRENT_GETS = 16;

export interface PodBinderOptions {
  source: PodSource;
  /** Pods remembered by uid (one per pod on the cluster is plenty). */
  cacheSize: number;
  /** How long a pod seen alive is remembered after it was last looked up. */
  seenTtlMs: number;
}

export class PodBinder {
  #o: PodBinderOptions;
  #seen: LRUCache<string, ApiPod>;
  #missing: LRUCache<string, true>;
  #inflight = new Map<string, Promise<ApiPod | undefined>>();
  #running = 0;
  #queue: (() => void)[] = [];

  constructor(options: PodBinderOptions) {
    this.#o = options;
    this.#seen = new LRUCache({
      max: options.cacheSize,
      ttl: Math.max(1, options.seenTtlMs),
      updateAgeOnGet: true,
    });
    this.#missing = new LRUCache({ max: 10_000, ttl: NOT_FOUND_TTL_MS });
  }

  /** The binding when known without a request; undefined: call bind(). */
  bindCached(ref: PodRef, node: string): Binding | undefined {
    const seen = this.#seen.get(ref.uid ?? "");
    if (seen && seen.namespace === ref.namespace && seen.name === ref.name) return verdict(seen, node);
    if (this.#missing.has(`${ref.namespace}/${ref.name}`)) return { kind: "gone" };
    return undefined;
  }

  async bind(ref: PodRef, node: string): Promise<Binding> {
    const cached = this.bindCached(ref, node);
    if (cached) return cached;
    const key = `${ref.namespace}/${ref.name}`;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#get(ref.namespace ?? "", ref.name ?? "").finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    const pod = await pending;
    if (pod) this.#seen.set(pod.uid, pod);
    else this.#missing.set(key, true);
    if (pod && pod.uid === ref.uid) return verdict(pod, node);
    // Not there, or a new pod under the name: only a pod seen alive before can be vouched for.
    const before = this.#seen.get(ref.uid ?? "");
    return before && before.namespace === ref.namespace && before.name === ref.name
      ? verdict(before, node)
      : { kind: "gone" };
  }

  async #get(namespace: string, name: string): Promise<ApiPod | undefined> {
    if (this.#running >= MAX_CONCURRENT_GETS) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#running++;
    try {
      return await this.#o.source.pod(namespace, name);
    } finally {
      this.#running--;
      this.#queue.shift()?.();
    }
  }
}

/**
 * The "ok" binding of each pod seen, per node asked about: the same answer object for every
 * event about the pod (the pipeline reads it, never changes it), not a copy per event.
 */
const okBindings = new WeakMap<ApiPod, { node: string; binding: Binding }>();

function verdict(pod: ApiPod, node: string): Binding {
  if (pod.node !== node) return { kind: "mismatch", actualNode: pod.node };
  const known = okBindings.get(pod);
  if (known?.node === node) return known.binding;
  const binding: Binding = {
    kind: "ok",
    pod: {
      uid: pod.uid,
      namespace: pod.namespace,
      name: pod.name,
      node: pod.node,
      labels: pod.labels,
      owners: pod.owners,
      qosClass: pod.qosClass,
    },
  };
  okBindings.set(pod, { node, binding });
  return binding;
}
