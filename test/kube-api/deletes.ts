/**
 * Deletion: preconditions, finalizers, propagation policies, and the garbage
 * collector that deletes dependents whose ownerReferences name deleted owners
 * (asynchronously, like kube-controller-manager's GC). Namespaces terminate by
 * deleting their content first; pods bound to a node linger briefly with a
 * deletionTimestamp, as if the kubelet confirmed the kill right away.
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
  private readonly podTerminationMs: number;
  private gcTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    store: Store,
    registry: Registry,
    clock: () => number,
    hooks: DeleteHooks,
    podTerminationMs: number,
  ) {
    this.store = store;
    this.registry = registry;
    this.clock = clock;
    this.hooks = hooks;
    this.podTerminationMs = podTerminationMs;
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
    const bound = key === "/pods" && old.spec?.nodeName && o.gracePeriodSeconds !== 0;
    const terminating = key === "/namespaces" || key === "apiextensions.k8s.io/customresourcedefinitions";
    if (finalizers.length || bound || terminating) {
      if (old.metadata.deletionTimestamp) return old;
      const next = clone(old);
      next.metadata.deletionTimestamp = nowTime(this.clock);
      next.metadata.deletionGracePeriodSeconds = bound
        ? (o.gracePeriodSeconds ?? old.spec?.terminationGracePeriodSeconds ?? 30)
        : 0;
      if (finalizers.length) next.metadata.finalizers = finalizers;
      if (key === "/namespaces") next.status = { ...next.status, phase: "Terminating" };
      const stored = this.store.put(key, next);
      if (bound) this.later(this.podTerminationMs, () => this.finish(key, ns, name));
      if (key === "/namespaces") this.later(1, () => this.terminateNamespace(name));
      if (terminating && key !== "/namespaces") this.later(1, () => this.finish(key, ns, name));
      this.scheduleGc();
      return stored;
    }
    const gone = this.store.remove(key, ns, name);
    this.scheduleGc();
    return gone ?? old;
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
        this.store.remove(key, obj.metadata.namespace, obj.metadata.name);
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
