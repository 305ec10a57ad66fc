/**
 * The resource verbs behind /api/v1/... and /apis/<g>/<v>/...: get, list (with
 * selectors and limit/continue), watch, create, update, patch, delete,
 * deletecollection, plus TokenReview creation.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { parse as parseYaml } from "yaml";
import type { Authenticator } from "./auth.ts";
import type { Deletes } from "./deletes.ts";
import { eventsV1Write, fromCore } from "./events-v1.ts";
import { decodeProtobuf } from "./protobuf.ts";
import { type Registry, type ResourceType, storageKey } from "./registry.ts";
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { ApiError, badRequest, gone, methodNotAllowed, notFound, unsupportedMediaType } from "./status.ts";
import type { Store } from "./store.ts";
import { toTable, wantsTable } from "./table.ts";
import { apiVersionOf, isObj, type KObj } from "./types.ts";
import { serveWatch, type WatchEnv } from "./watch.ts";
import type { WriteOptions, Writes } from "./writes.ts";

export interface Target {
  rt: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string;
  verb: string;
}

export interface Reply {
  status: number;
  body: KObj;
  warnings?: string[];
}

const EXPIRED_CONTINUE =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

export class Resources {
  private readonly store: Store;
  private readonly writes: Writes;
  private readonly deletes: Deletes;
  private readonly auth: Authenticator;
  private readonly env: WatchEnv;
  private readonly registry: Registry;

  constructor(
    store: Store,
    registry: Registry,
    writes: Writes,
    deletes: Deletes,
    auth: Authenticator,
    env: WatchEnv,
  ) {
    this.registry = registry;
    this.store = store;
    this.writes = writes;
    this.deletes = deletes;
    this.auth = auth;
    this.env = env;
  }

  /** Lists and watches of built-in kinds omit kind/apiVersion on items, like typed lists. */
  static present(rt: ResourceType, obj: KObj): KObj {
    if (rt.group === "events.k8s.io") return fromCore(obj);
    return { apiVersion: apiVersionOf(rt.group, rt.version), kind: rt.kind, ...obj };
  }

  private itemOf(rt: ResourceType, obj: KObj): KObj {
    if (rt.crd) return obj;
    const { apiVersion: _a, kind: _k, ...rest } = obj;
    return rest;
  }

  /** Serve a request; returns undefined when the response was streamed (watch). */
  handle(
    t: Target,
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    body: string,
    raw: Buffer,
  ): Reply | undefined {
    const { rt } = t;
    if (t.subresource && !(t.subresource === "status" && rt.statusSubresource))
      throw notFound(rt, t.name ?? "");
    const opts = writeOptions(req, q);
    const asTable = wantsTable(req.headers.accept);
    if (rt.group === "events.k8s.io" && ["create", "update", "patch"].includes(t.verb)) {
      const ct = (req.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
      const input = t.verb === "patch" ? body : decode(req, body, raw);
      const r = eventsV1Write(this.writes, this.store, this.coreEvents, t, ct, input, opts);
      return { status: r.created ? 201 : 200, body: Resources.present(rt, r.obj), warnings: r.warnings };
    }
    switch (t.verb) {
      case "get": {
        const obj = this.get(t);
        if (asTable) return { status: 200, body: this.table(rt, [obj], q, obj.metadata.resourceVersion) };
        return { status: 200, body: Resources.present(rt, obj) };
      }
      case "list":
        return { status: 200, body: this.list(t, q, asTable) };
      case "watch": {
        serveWatch(
          res,
          {
            rt,
            namespace: t.namespace,
            labels: parseLabelSelector(q.get("labelSelector")),
            fields: parseFieldSelector(q.get("fieldSelector"), rt.fieldLabels),
            resourceVersion: q.get("resourceVersion") ?? "",
            bookmarks: q.get("allowWatchBookmarks") === "true",
            sendInitialEvents: q.get("sendInitialEvents") === "true",
            timeoutSeconds: q.has("timeoutSeconds") ? Number(q.get("timeoutSeconds")) : undefined,
            table: asTable ? { includeObject: q.get("includeObject") ?? "Metadata" } : undefined,
          },
          { ...this.env, present: Resources.present },
        );
        return undefined;
      }
      case "create": {
        if (storageKey(rt) === "authentication.k8s.io/tokenreviews") {
          return { status: 201, body: this.auth.review(decode(req, body, raw)) };
        }
        const r = this.writes.create(rt, t.namespace, decode(req, body, raw), opts);
        return { status: 201, body: Resources.present(rt, r.obj), warnings: r.warnings };
      }
      case "update": {
        const r = this.writes.update(
          rt,
          t.namespace,
          t.name ?? "",
          decode(req, body, raw),
          t.subresource,
          opts,
        );
        return { status: 200, body: Resources.present(rt, r.obj), warnings: r.warnings };
      }
      case "patch": {
        const ct = (req.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
        const r = this.writes.patch(rt, t.namespace, t.name ?? "", ct, body, t.subresource, opts);
        return { status: r.created ? 201 : 200, body: Resources.present(rt, r.obj), warnings: r.warnings };
      }
      case "delete": {
        const d = body.trim() ? decode(req, body, raw) : {};
        const policy = q.get("propagationPolicy") ?? d.propagationPolicy;
        const grace = q.get("gracePeriodSeconds") ?? d.gracePeriodSeconds;
        const obj = this.deletes.delete(rt, t.namespace, t.name ?? "", {
          propagationPolicy: policy ?? undefined,
          gracePeriodSeconds: grace === undefined || grace === null ? undefined : Number(grace),
          preconditions: d.preconditions,
          dryRun: opts.dryRun,
        });
        // gone at once: the object for pods (ReturnDeletedObject), a Success Status for the rest
        const immediate = !this.store.get(storageKey(rt), t.namespace, t.name ?? "") && !opts.dryRun;
        if (immediate && storageKey(rt) !== "/pods") return { status: 200, body: deletedStatus(rt, obj) };
        return { status: 200, body: Resources.present(rt, obj) };
      }
      case "deletecollection": {
        const list = this.list(t, q, false);
        for (const item of list.items) {
          this.deletes.delete(rt, item.metadata.namespace, item.metadata.name, { dryRun: opts.dryRun });
        }
        return { status: 200, body: list };
      }
    }
    throw methodNotAllowed();
  }

  private get coreEvents(): ResourceType {
    const core = this.registry.find("", "v1", "events");
    if (!core) throw new Error("core/v1 events are always served");
    return core;
  }

  private get(t: Target): KObj {
    const obj = this.store.get(storageKey(t.rt), t.namespace, t.name ?? "");
    if (!obj) throw notFound(t.rt, t.name ?? "");
    return obj;
  }

  private table(
    rt: ResourceType,
    objs: KObj[],
    q: URLSearchParams,
    rv: string,
    cont?: string,
    remaining?: number,
  ): KObj {
    return toTable(rt, objs, {
      includeObject: q.get("includeObject") ?? "Metadata",
      now: this.env.clock(),
      resourceVersion: rv,
      ...(cont ? { continueToken: cont } : {}),
      ...(remaining !== undefined ? { remainingItemCount: remaining } : {}),
    });
  }

  private list(t: Target, q: URLSearchParams, asTable: boolean): KObj {
    const { rt } = t;
    const labels = parseLabelSelector(q.get("labelSelector"));
    const fields = parseFieldSelector(q.get("fieldSelector"), rt.fieldLabels);
    let listRv = this.store.rv;
    let after = "";
    const cont = q.get("continue");
    if (cont) {
      let tok: { rv: number; start: string };
      try {
        tok = JSON.parse(Buffer.from(cont, "base64").toString("utf8"));
      } catch {
        throw badRequest("continue key is not valid: illegal base64 data");
      }
      if (tok.rv < this.store.compactedRv) throw gone(EXPIRED_CONTINUE);
      listRv = tok.rv;
      after = tok.start;
    }
    const keyOf = (o: KObj) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    let items = this.store
      .list(storageKey(rt), t.namespace)
      .filter((o) => matchesLabels(labels, o.metadata.labels) && matchesFields(fields, o));
    if (after) items = items.filter((o) => keyOf(o) > after);
    // resourceVersion=0 is served from the watch cache, which (in 1.32) ignores limit
    const limit = q.get("resourceVersion") === "0" ? 0 : Number(q.get("limit") ?? 0);
    let next: string | undefined;
    let remaining: number | undefined;
    if (limit > 0 && items.length > limit) {
      const rest = items.length - limit;
      items = items.slice(0, limit);
      const last = items[items.length - 1];
      next = Buffer.from(JSON.stringify({ rv: listRv, start: last ? keyOf(last) : "" })).toString("base64");
      if (!labels.length && !fields.length) remaining = rest;
    }
    const rv = String(listRv);
    if (asTable) return this.table(rt, items, q, rv, next, remaining);
    const metadata: KObj = { resourceVersion: rv };
    if (next) metadata.continue = next;
    if (remaining !== undefined) metadata.remainingItemCount = remaining;
    return {
      kind: `${rt.kind}List`,
      apiVersion: apiVersionOf(rt.group, rt.version),
      metadata,
      items: items.map((o) => this.itemOf(rt, Resources.present(rt, o))),
    };
  }
}

function deletedStatus(rt: ResourceType, obj: KObj): KObj {
  const details: KObj = { name: obj.metadata.name };
  if (rt.group) details.group = rt.group;
  details.kind = rt.plural;
  details.uid = obj.metadata.uid;
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details };
}

function writeOptions(req: IncomingMessage, q: URLSearchParams): WriteOptions {
  return {
    fieldManager: q.get("fieldManager") ?? undefined,
    userAgent: String(req.headers["user-agent"] ?? ""),
    dryRun: q.getAll("dryRun").includes("All"),
    fieldValidation: q.get("fieldValidation") ?? "Warn",
    force: q.get("force") === "true",
  };
}

function decode(req: IncomingMessage, body: string, raw: Buffer): KObj {
  const ct = (req.headers["content-type"] ?? "application/json").split(";")[0]?.trim() ?? "";
  let v: unknown;
  try {
    if (ct === "application/json" || ct === "") v = JSON.parse(body);
    else if (ct === "application/yaml") v = parseYaml(body);
    else if (ct === "application/vnd.kubernetes.protobuf") v = decodeProtobuf(raw);
    else throw unsupportedMediaType(["application/json", "application/yaml"]);
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw badRequest(`error decoding request body: ${(e as Error).message}`);
  }
  if (!isObj(v)) throw badRequest("the body of the request must be a JSON object");
  return v;
}
