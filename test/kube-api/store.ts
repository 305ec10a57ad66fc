/**
 * Object storage with one global, increasing resourceVersion (like etcd's
 * revision), a bounded history window for watch replay, and watch fan-out.
 *
 * Invariants: every write bumps `rv` by one and appends one event; events with
 * rv <= `compactedRv` are gone, so a watch or continue token from before that is
 * answered 410 Gone.
 */
import { clone, type KObj } from "./types.ts";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  type: EventType;
  rv: number;
  /** `${group}/${plural}` */
  key: string;
  object: KObj;
  /** the object before a MODIFIED/DELETED */
  prev: KObj | undefined;
}

export interface StoreWatcher {
  key: string;
  namespace: string | undefined;
  deliver(ev: StoreEvent): void;
}

function objKey(ns: string | undefined, name: string): string {
  return `${ns ?? ""}/${name}`;
}

export class Store {
  rv = 0;
  compactedRv = 0;
  private readonly data = new Map<string, Map<string, KObj>>();
  private history: StoreEvent[] = [];
  private readonly watchers = new Set<StoreWatcher>();
  private readonly uids = new Map<string, { key: string; ns: string | undefined; name: string }>();
  private readonly historyWindow: number;

  constructor(historyWindow: number) {
    this.historyWindow = historyWindow;
  }

  private bucket(key: string): Map<string, KObj> {
    let b = this.data.get(key);
    if (!b) {
      b = new Map();
      this.data.set(key, b);
    }
    return b;
  }

  get(key: string, ns: string | undefined, name: string): KObj | undefined {
    return this.data.get(key)?.get(objKey(ns, name));
  }

  /** Objects of one resource, ordered like etcd keys (namespace, then name). */
  list(key: string, ns?: string): KObj[] {
    const b = this.data.get(key);
    if (!b) return [];
    const out: [string, KObj][] = [];
    for (const [k, v] of b) if (ns === undefined || v.metadata?.namespace === ns) out.push([k, v]);
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return out.map((x) => x[1]);
  }

  /** Every stored object of every resource: used by the garbage collector. */
  *everything(): Iterable<{ key: string; obj: KObj }> {
    for (const [key, b] of this.data) for (const obj of b.values()) yield { key, obj };
  }

  existsUid(uid: string): boolean {
    return this.uids.has(uid);
  }

  /** Store `obj` (a fresh object the caller no longer mutates); sets metadata.resourceVersion. */
  put(key: string, obj: KObj): KObj {
    const ns = obj.metadata.namespace;
    const name = obj.metadata.name;
    const b = this.bucket(key);
    const prev = b.get(objKey(ns, name));
    this.rv += 1;
    obj.metadata.resourceVersion = String(this.rv);
    b.set(objKey(ns, name), obj);
    this.uids.set(obj.metadata.uid, { key, ns, name });
    this.emit({ type: prev ? "MODIFIED" : "ADDED", rv: this.rv, key, object: obj, prev });
    return obj;
  }

  remove(key: string, ns: string | undefined, name: string): KObj | undefined {
    const b = this.data.get(key);
    const prev = b?.get(objKey(ns, name));
    if (!b || !prev) return undefined;
    b.delete(objKey(ns, name));
    this.uids.delete(prev.metadata.uid);
    this.rv += 1;
    const gone = clone(prev);
    gone.metadata.resourceVersion = String(this.rv);
    this.emit({ type: "DELETED", rv: this.rv, key, object: gone, prev });
    return gone;
  }

  private emit(ev: StoreEvent): void {
    this.history.push(ev);
    if (this.history.length > this.historyWindow) {
      const drop = this.history.length - this.historyWindow;
      this.compactedRv = this.history[drop - 1]?.rv ?? this.compactedRv;
      this.history = this.history.slice(drop);
    }
    for (const w of this.watchers) {
      if (w.key !== ev.key) continue;
      if (w.namespace !== undefined && ev.object.metadata?.namespace !== w.namespace) continue;
      w.deliver(ev);
    }
  }

  /** Forget all history: every resourceVersion before now is too old. */
  compact(): void {
    // a fresh revision (like an etcd write) so that everything handed out so far is older
    this.rv += 1;
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** Events after `rv` for one resource; undefined when `rv` is already compacted. */
  since(key: string, rv: number, ns?: string): StoreEvent[] | undefined {
    if (rv < this.compactedRv) return undefined;
    return this.history.filter(
      (e) => e.rv > rv && e.key === key && (ns === undefined || e.object.metadata?.namespace === ns),
    );
  }

  subscribe(w: StoreWatcher): () => void {
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }
}

/** Read-only view handed to tests: plain copies, never live objects. */
export class StoreView {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }
  list(group: string, resource: string, namespace?: string): KObj[] {
    return this.store.list(`${group}/${resource}`, namespace).map((o) => clone(o));
  }
  get(group: string, resource: string, namespace: string | undefined, name: string): KObj | undefined {
    return clone(this.store.get(`${group}/${resource}`, namespace, name));
  }
  get resourceVersion(): string {
    return String(this.store.rv);
  }
}
