/**
 * Watch streams: one JSON watch event per line over a chunked response.
 * resourceVersion unset/"0" starts with synthetic ADDED events for the current
 * state; a specific version replays what followed it from the history window,
 * or answers an ERROR event with a 410 Expired Status when it is too old.
 * Objects moving into / out of the selectors arrive as ADDED / DELETED, like
 * the watch cache. Bookmarks carry only metadata.resourceVersion.
 */
import type { ServerResponse } from "node:http";
import type { Faults, OpenWatch } from "./faults.ts";
import { type ResourceType, storageKey } from "./registry.ts";
import { type FieldRequirement, type LabelRequirement, matchesFields, matchesLabels } from "./selectors.ts";
import { gone } from "./status.ts";
import type { Store, StoreEvent } from "./store.ts";
import { toTable } from "./table.ts";
import { apiVersionOf, clone, type KObj } from "./types.ts";

export interface WatchRequest {
  rt: ResourceType;
  namespace: string | undefined;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
  resourceVersion: string;
  bookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds: number | undefined;
  /** set when the client asked for Table rows */
  table: { includeObject: string } | undefined;
}

export interface WatchEnv {
  store: Store;
  faults: Faults;
  bookmarkIntervalMs: number;
  clock: () => number;
  /** items of lists and watches of built-in kinds carry no kind/apiVersion */
  present: (rt: ResourceType, obj: KObj) => KObj;
}

/**
 * A stored object's JSON as watch events of one resource type carry it, serialized once for
 * every watcher, as kube-apiserver's watch cache does (CachingObject): a write watched by N
 * clients is not encoded N times. Stored objects are never mutated (Store.put), so the object
 * is the key — per type, as one stored object is presented differently by two APIs (core and
 * events.k8s.io Events).
 */
const serialized = new WeakMap<ResourceType, WeakMap<KObj, string>>();

export function serveWatch(res: ServerResponse, w: WatchRequest, env: WatchEnv): void {
  const rt = w.rt;
  const store = env.store;
  const key = storageKey(rt);
  res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" });
  res.flushHeaders();
  let stalled = false;
  let closed = false;
  let columnsSent = false;
  const timers: NodeJS.Timeout[] = [];
  const write = (line: KObj): void => {
    if (!stalled && !closed) res.write(`${JSON.stringify(line)}\n`);
  };
  const send = (type: string, obj: KObj): void => {
    if (!w.table) {
      let ofType = serialized.get(rt);
      if (!ofType) {
        ofType = new WeakMap();
        serialized.set(rt, ofType);
      }
      let json = ofType.get(obj);
      if (json === undefined) {
        json = JSON.stringify(env.present(rt, obj));
        ofType.set(obj, json);
      }
      if (!stalled && !closed) res.write(`{"type":${JSON.stringify(type)},"object":${json}}\n`);
      return;
    }
    let object = env.present(rt, obj);
    if (w.table) {
      object = toTable(rt, [obj], {
        includeObject: w.table.includeObject,
        now: env.clock(),
        resourceVersion: obj.metadata.resourceVersion,
        omitColumns: columnsSent,
      });
      columnsSent = true;
    }
    write({ type, object });
  };
  const matches = (o: KObj | undefined): boolean =>
    o !== undefined && matchesLabels(w.labels, o.metadata?.labels) && matchesFields(w.fields, o);
  const deliver = (ev: StoreEvent): void => {
    const now = matches(ev.object);
    const before = ev.type !== "ADDED" && matches(ev.prev);
    if (ev.type === "ADDED" && now) send("ADDED", ev.object);
    else if (ev.type === "MODIFIED" && now) send(before ? "MODIFIED" : "ADDED", ev.object);
    else if (ev.type === "MODIFIED" && before && ev.prev) {
      const last = clone(ev.prev);
      last.metadata.resourceVersion = String(ev.rv);
      send("DELETED", last);
    } else if (ev.type === "DELETED" && before) send("DELETED", ev.object);
  };
  const end = (): void => {
    if (closed) return;
    if (!stalled) res.end();
    closed = true;
    cleanup();
  };
  const expire = (message: string): void => {
    write({ type: "ERROR", object: gone(message).toStatus() });
    stalled = false;
    end();
    if (!res.writableEnded) res.end();
  };
  const bookmark = (extra: KObj = {}): void => {
    write({
      type: "BOOKMARK",
      object: {
        kind: rt.kind,
        apiVersion: apiVersionOf(rt.group, rt.version),
        metadata: { resourceVersion: String(store.rv), ...extra },
      },
    });
  };
  const handle: OpenWatch = {
    resource: rt.plural,
    namespace: w.namespace,
    drop(graceful) {
      if (graceful) {
        stalled = false;
        end();
      } else {
        closed = true;
        cleanup();
        res.socket?.destroy();
      }
    },
    stall() {
      stalled = true;
    },
    expire,
  };
  env.faults.watches.add(handle);
  let unsubscribe = (): unknown => undefined;
  function cleanup(): void {
    for (const t of timers) clearTimeout(t);
    unsubscribe();
    env.faults.watches.delete(handle);
  }
  res.on("close", () => {
    closed = true;
    cleanup();
  });

  const rv = w.resourceVersion;
  if (rv === "" || rv === "0" || w.sendInitialEvents) {
    for (const o of store.list(key, w.namespace)) if (matches(o)) send("ADDED", o);
    if (w.sendInitialEvents && w.bookmarks)
      bookmark({ annotations: { "k8s.io/initial-events-end": "true" } });
  } else {
    const events = store.since(key, Number(rv), w.namespace);
    if (!events) {
      expire(`too old resource version: ${rv} (${store.compactedRv + 1})`);
      return;
    }
    for (const ev of events) deliver(ev);
  }
  unsubscribe = store.subscribe({ key, namespace: w.namespace, deliver });
  if (w.bookmarks) timers.push(setInterval(() => bookmark(), env.bookmarkIntervalMs));
  if (w.timeoutSeconds !== undefined) timers.push(setTimeout(end, w.timeoutSeconds * 1000));
}
