/**
 * Deletion: preconditions, finalizers, propagation policies, and the garbage
 * collector that deletes dependents whose ownerReferences name deleted owners
 * (asynchronously, like kube-controller-manager's GC). Namespaces terminate by
 * deleting their content first.
 *
 * Pods follow kube-apiserver's graceful deletion (pkg/registry/core/pod/strategy.go
 * CheckGracefulDelete, apiserver registry/rest/delete.go BeforeDelete): the grace period is
 * the request's gracePeriodSeconds, else the pod's terminationGracePeriodSeconds, else 30 —
 * and 0 for a pod not bound to a node or already Succeeded/Failed. Every pod delete is an
 * update first (MODIFIED: deletionTimestamp = now + grace, deletionGracePeriodSeconds);
 * with grace 0 the pod is then removed (DELETED). A bound pod with a grace period stays,
 * Terminating, until the kubelet confirms: a delete with gracePeriodSeconds=0 (what the
 * kubelet sends once the containers stopped; also `kubectl delete --force --grace-period=0`)
 * or `KubeApi.confirmPodDeletion`, the test's kubelet. A later delete with a longer grace
 * period changes nothing; a shorter one shortens it (MODIFIED).
 */
import { type Registry, type ResourceType, storageKey } from "./registry.ts";
import { conflict, notFound } from "./status.ts";
import type { Store } from "./store.ts";
import { clone, type KObj, nowTime } from "./types.ts";

export interface DeleteOptions {
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun: boolean;
}

export interface DeleteHooks {
  /** a CRD is going away: drop its objects and its served resource */
  removeCrd(crd: KObj): void;
}

const FOREGROUND = "foregroundDeletion";
const ORPHAN = "orphan";

export class Deletes {
  private readonly store: Store;
  private readonly registry: Registry;
  private readonly clock: () => number;
  private readonly hooks: DeleteHooks;
  private gcTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(store: Store, registry: Registry, clock: () => number, hooks: DeleteHooks) {
    this.store = store;
    this.registry = registry;
    this.clock = clock;
    this.hooks = hooks;
  }

  close(): void {
    clearTimeout(this.gcTimer);
    for (const t of this.timers) clearTimeout(t);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  delete(rt: ResourceType, ns: string | undefined, name: string, o: DeleteOptions): KObj {
    const key = storageKey(rt);
    const old = this.store.get(key, ns, name);
    if (!old) throw notFound(rt, name);
    const pre = o.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) {
      throw conflict(
        rt,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(
        rt,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    }
    if (o.dryRun) return old;
    const finalizers: string[] = [...(old.metadata.finalizers ?? [])];
    if (o.propagationPolicy === "Foreground" && !finalizers.includes(FOREGROUND)) finalizers.push(FOREGROUND);
    if (o.propagationPolicy === "Orphan" && !finalizers.includes(ORPHAN)) finalizers.push(ORPHAN);
    if (key === "/pods") return this.deletePod(old, finalizers, o.gracePeriodSeconds);
    const terminating = key === "/namespaces" || key === "apiextensions.k8s.io/customresourcedefinitions";
    if (finalizers.length || terminating) {
      if (old.metadata.deletionTimestamp) return old;
      const next = clone(old);
      next.metadata.deletionTimestamp = nowTime(this.clock);
      next.metadata.deletionGracePeriodSeconds = 0;
      if (finalizers.length) next.metadata.finalizers = finalizers;
      if (key === "/namespaces") next.status = { ...next.status, phase: "Terminating" };
      const stored = this.store.put(key, next);
      if (key === "/namespaces") this.later(1, () => this.terminateNamespace(name));
      if (terminating && key !== "/namespaces") this.later(1, () => this.finish(key, ns, name));
      this.scheduleGc();
      return stored;
    }
    const gone = this.store.remove(key, ns, name);
    this.scheduleGc();
    return gone ?? old;
  }

  /** Graceful deletion of a pod (see the top of this file). */
  private deletePod(old: KObj, finalizers: string[], requested: number | undefined): KObj {
    const { namespace: ns, name } = old.metadata;
    const phase = old.status?.phase;
    let grace = requested ?? old.spec?.terminationGracePeriodSeconds ?? 30;
    if (!old.spec?.nodeName || phase === "Succeeded" || phase === "Failed") grace = 0;
    grace = Math.max(0, Math.trunc(grace));
    const pending = old.metadata.deletionGracePeriodSeconds;
    if (old.metadata.deletionTimestamp && typeof pending === "number" && grace >= pending) return old;
    const next = clone(old);
    next.metadata.deletionTimestamp = `${new Date(this.clock() + grace * 1000).toISOString().slice(0, 19)}Z`;
    next.metadata.deletionGracePeriodSeconds = grace;
    if (finalizers.length) next.metadata.finalizers = finalizers;
    const stored = this.store.put("/pods", next);
    this.scheduleGc();
    if (grace > 0 || finalizers.length) return stored;
    return this.store.remove("/pods", ns, name) ?? stored;
  }

  /**
   * The kubelet's confirmation that a Terminating pod's containers stopped: the delete with
   * gracePeriodSeconds=0 it sends (MODIFIED, then DELETED). False when there is no such pod.
   */
  confirmPodDeletion(ns: string, name: string): boolean {
    const pod = this.store.get("/pods", ns, name);
    if (!pod?.metadata.deletionTimestamp) return false;
    this.deletePod(pod, [...(pod.metadata.finalizers ?? [])], 0);
    return true;
  }

  /** Remove an object whose deletion was pending (kubelet / controller done). */
  private finish(key: string, ns: string | undefined, name: string): void {
    const obj = this.store.get(key, ns, name);
    if (!obj?.metadata.deletionTimestamp) return;
    if (key === "apiextensions.k8s.io/customresourcedefinitions") this.hooks.removeCrd(obj);
    if ((obj.metadata.finalizers ?? []).length) return;
    this.store.remove(key, ns, name);
    this.scheduleGc();
  }

  private terminateNamespace(name: string): void {
    for (const rt of this.registry.all()) {
      if (!rt.namespaced) continue;
      for (const o of this.store.list(storageKey(rt), name))
        this.store.remove(storageKey(rt), name, o.metadata.name);
    }
    const ns = this.store.get("/namespaces", undefined, name);
    if (!ns) return;
    const next = clone(ns);
    next.spec = { ...next.spec, finalizers: [] };
    if ((next.metadata.finalizers ?? []).length) this.store.put("/namespaces", next);
    else this.store.remove("/namespaces", undefined, name);
    this.scheduleGc();
  }

  scheduleGc(): void {
    if (this.gcTimer) return;
    this.gcTimer = setTimeout(() => {
      this.gcTimer = undefined;
      this.collectGarbage();
    }, 0);
  }

  /** One pass of the garbage collector; reschedules itself while it changes things. */
  collectGarbage(): void {
    let changed = false;
    const all = [...this.store.everything()];
    const orphaningOwners = new Set(
      all
        .filter(
          ({ obj }) => obj.metadata.deletionTimestamp && (obj.metadata.finalizers ?? []).includes(ORPHAN),
        )
        .map(({ obj }) => obj.metadata.uid),
    );
    for (const { key, obj } of all) {
      const refs: KObj[] = obj.metadata.ownerReferences ?? [];
      if (refs.length === 0) continue;
      const live = refs.filter((r) => this.store.existsUid(r.uid));
      const orphaning = live.filter((r) => orphaningOwners.has(r.uid));
      if (live.length === 0) {
        // Like kube-controller-manager's GC, a DELETE: a bound pod terminates gracefully.
        if (key !== "/pods") this.store.remove(key, obj.metadata.namespace, obj.metadata.name);
        else if (!obj.metadata.deletionTimestamp)
          this.deletePod(obj, [...(obj.metadata.finalizers ?? [])], undefined);
        else continue; // Terminating already: the kubelet confirms
        changed = true;
      } else if (orphaning.length || live.length !== refs.length) {
        const next = clone(obj);
        next.metadata.ownerReferences = live.filter((r) => !orphaning.includes(r));
        if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
        this.store.put(key, next);
        changed = true;
      }
    }
    for (const { key, obj } of all) {
      const f: string[] = obj.metadata.finalizers ?? [];
      if (!obj.metadata.deletionTimestamp || !(f.includes(FOREGROUND) || f.includes(ORPHAN))) continue;
      const current = this.store.get(key, obj.metadata.namespace, obj.metadata.name);
      if (!current) continue;
      const dependents = all.filter((d) =>
        (d.obj.metadata.ownerReferences ?? []).some((r: KObj) => r.uid === obj.metadata.uid),
      );
      if (f.includes(FOREGROUND)) {
        for (const d of dependents) {
          if (this.store.get(d.key, d.obj.metadata.namespace, d.obj.metadata.name)) {
            this.store.remove(d.key, d.obj.metadata.namespace, d.obj.metadata.name);
            changed = true;
          }
        }
      }
      const rest = f.filter((x) => x !== FOREGROUND && x !== ORPHAN);
      if (rest.length === 0) this.store.remove(key, obj.metadata.namespace, obj.metadata.name);
      else {
        const next = clone(current);
        next.metadata.finalizers = rest;
        this.store.put(key, next);
      }
      changed = true;
    }
    if (changed) this.scheduleGc();
  }
}
