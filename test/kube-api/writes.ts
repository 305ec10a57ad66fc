/**
 * The write path shared by create, update (PUT), patch and server-side apply:
 * system metadata, status-subresource scoping, defaulting, validation,
 * generation, managed fields, no-op detection, then the store.
 */
import { randomUUID } from "node:crypto";
import { applyPatch } from "./apply.ts";
import { pruneBuiltin } from "./builtin-fields.ts";
import { applyDefaults, initialStatus } from "./defaults.ts";
import { recordUpdate, type WriteContext } from "./managed.ts";
import { jsonPatch, mergePatch, strategicMergePatch } from "./patch.ts";
import { type ResourceType, storageKey } from "./registry.ts";
import { applySchemaDefaults, prune, validateSchema } from "./schema.ts";
import { builtinShape, crdShape, type ShapeOf } from "./shape.ts";
import {
  alreadyExists,
  badRequest,
  conflict,
  type FieldError,
  forbidden,
  invalid,
  notFound,
  STALE,
  unsupportedMediaType,
} from "./status.ts";
import type { Store } from "./store.ts";
import { apiVersionOf, clone, deepEqual, isObj, type KObj, nowTime } from "./types.ts";
import { validateBuiltin, validateMeta } from "./validate.ts";

export interface WriteOptions {
  fieldManager: string | undefined;
  userAgent: string;
  dryRun: boolean;
  fieldValidation: string;
  force: boolean;
}

export interface WriteResult {
  obj: KObj;
  created: boolean;
  warnings: string[];
}

/** Hooks for kinds with server-side behaviour (CRDs). */
export interface WriteHooks {
  beforeWrite(rt: ResourceType, obj: KObj, old: KObj | undefined): FieldError[];
  afterWrite(rt: ResourceType, obj: KObj): void;
  /** called when an update clears the last finalizer of a deleting object */
  finalize(rt: ResourceType, obj: KObj): void;
}

const NAMESPACES = { group: "", plural: "namespaces", kind: "Namespace" };
const GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789";

export function shapeOf(rt: ResourceType): ShapeOf {
  return rt.crd ? crdShape(rt.crd.schema) : builtinShape;
}

function withoutVolatile(o: KObj): KObj {
  const c = clone(o);
  delete c.metadata?.resourceVersion;
  for (const m of c.metadata?.managedFields ?? []) delete m.time;
  return c;
}

function body(o: KObj): KObj {
  const { metadata: _m, status: _s, ...rest } = o;
  return rest;
}

export class Writes {
  readonly store: Store;
  private readonly clock: () => number;
  private readonly hooks: WriteHooks;

  constructor(store: Store, clock: () => number, hooks: WriteHooks) {
    this.store = store;
    this.clock = clock;
    this.hooks = hooks;
  }

  private manager(o: WriteOptions): string {
    return o.fieldManager ?? (o.userAgent.split("/")[0] || "unknown");
  }

  /** shared with apply.ts */
  ctx(rt: ResourceType, sub: string, o: WriteOptions): WriteContext {
    return {
      manager: this.manager(o),
      subresource: sub,
      apiVersion: apiVersionOf(rt.group, rt.version),
      now: nowTime(this.clock),
      shape: shapeOf(rt),
    };
  }

  /** shared with apply.ts */
  checkKind(rt: ResourceType, obj: unknown): asserts obj is KObj {
    if (!isObj(obj)) throw badRequest("the body of the request must be a JSON object");
    const av = apiVersionOf(rt.group, rt.version);
    if (obj.apiVersion !== undefined && obj.apiVersion !== av) {
      throw badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${av})`,
      );
    }
    if (obj.kind !== undefined && obj.kind !== rt.kind) {
      throw badRequest(
        `${obj.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: the kind in the data does not match the resource`,
      );
    }
    obj.apiVersion = av;
    obj.kind = rt.kind;
    obj.metadata = isObj(obj.metadata) ? obj.metadata : {};
  }

  /** shared with apply.ts */
  requireNamespace(rt: ResourceType, ns: string | undefined, name: string): void {
    if (!rt.namespaced || ns === undefined) return;
    const nsObj = this.store.get("/namespaces", undefined, ns);
    if (!nsObj) throw notFound(NAMESPACES, ns);
    if (nsObj.metadata.deletionTimestamp) {
      throw forbidden(
        `${rt.plural}${rt.group ? `.${rt.group}` : ""} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
      );
    }
  }

  /** Scope, default, validate and stamp `next`; the caller stores it. */
  /** shared with apply.ts */
  prepare(
    rt: ResourceType,
    ns: string | undefined,
    old: KObj | undefined,
    next: KObj,
    sub: string,
    o: WriteOptions,
  ): string[] {
    const md = next.metadata;
    if (old) {
      for (const k of [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
      ]) {
        if (old.metadata[k] === undefined) delete md[k];
        else md[k] = old.metadata[k];
      }
      md.name = old.metadata.name;
    } else {
      md.uid = randomUUID();
      md.creationTimestamp = nowTime(this.clock);
      delete md.deletionTimestamp;
      delete md.deletionGracePeriodSeconds;
      delete md.generation;
    }
    if (rt.namespaced) md.namespace = ns;
    else delete md.namespace;
    delete md.resourceVersion;
    delete md.selfLink;
    if (rt.statusSubresource && sub === "" && old) {
      if (old.status === undefined) delete next.status;
      else next.status = clone(old.status);
    } else if (rt.statusSubresource && !old) {
      const s = initialStatus(rt, next);
      if (s === undefined) delete next.status;
      else next.status = s;
    }
    const warnings: string[] = [];
    const errs: FieldError[] = [];
    const dropped = rt.crd?.schema ? prune(next, rt.crd.schema) : pruneBuiltin(storageKey(rt), next);
    if (dropped.length && o.fieldValidation === "Strict") {
      const list = dropped.map((d) => `unknown field "${d}"`).join(", ");
      throw badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: strict decoding error: ${list}`,
      );
    }
    if (o.fieldValidation === "Warn") warnings.push(...dropped.map((d) => `unknown field "${d}"`));
    if (rt.crd?.schema) {
      applySchemaDefaults(next, rt.crd.schema);
      errs.push(...validateSchema(next, rt.crd.schema));
    } else applyDefaults(rt, next);
    errs.unshift(...validateMeta(rt, next));
    errs.push(...validateBuiltin(rt, next, old), ...this.hooks.beforeWrite(rt, next, old));
    if (errs.length) throw invalid(rt, String(md.name ?? ""), errs);
    if (rt.generation)
      md.generation = old ? (old.metadata.generation ?? 1) + (deepEqual(body(old), body(next)) ? 0 : 1) : 1;
    return warnings;
  }

  /** shared with apply.ts */
  commit(rt: ResourceType, old: KObj | undefined, next: KObj, o: WriteOptions): KObj {
    if (old && deepEqual(withoutVolatile(old), withoutVolatile(next))) return old;
    if (o.dryRun) return next;
    // An update that leaves a deleted object without finalizers removes it (kube-apiserver's
    // "last finalizer removed"), unless a graceful deletion is still pending: a Terminating
    // pod's status updates are stored, it goes when its kubelet confirms (deletes.ts).
    if (
      old?.metadata.deletionTimestamp &&
      !(next.metadata.finalizers ?? []).length &&
      !(old.metadata.deletionGracePeriodSeconds > 0)
    ) {
      this.hooks.finalize(rt, next);
      return this.store.remove(storageKey(rt), next.metadata.namespace, next.metadata.name) ?? next;
    }
    const stored = this.store.put(storageKey(rt), next);
    this.hooks.afterWrite(rt, stored);
    return stored;
  }

  create(rt: ResourceType, ns: string | undefined, input: unknown, o: WriteOptions): WriteResult {
    this.checkKind(rt, input);
    const obj = clone(input);
    const md = obj.metadata;
    if (md.namespace !== undefined && rt.namespaced && md.namespace !== ns) {
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    if (!md.name && typeof md.generateName === "string" && md.generateName) {
      let suffix = "";
      for (let i = 0; i < 5; i++) suffix += GEN_CHARS[Math.floor(Math.random() * GEN_CHARS.length)];
      md.name = `${md.generateName}${suffix}`;
    }
    delete md.managedFields;
    const name = String(md.name ?? "");
    this.requireNamespace(rt, ns, name);
    const warnings = this.prepare(rt, ns, undefined, obj, "", o);
    if (this.store.get(storageKey(rt), ns, name)) throw alreadyExists(rt, name);
    recordUpdate(undefined, obj, this.ctx(rt, "", o));
    return { obj: this.commit(rt, undefined, obj, o), created: true, warnings };
  }

  private current(rt: ResourceType, ns: string | undefined, name: string): KObj {
    const old = this.store.get(storageKey(rt), ns, name);
    if (!old) throw notFound(rt, name);
    return old;
  }

  /** PUT of the whole object (or of its status). */
  update(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    input: unknown,
    sub: string,
    o: WriteOptions,
  ): WriteResult {
    this.checkKind(rt, input);
    const old = this.current(rt, ns, name);
    const next = clone(input);
    if (next.metadata.name !== undefined && next.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    const rv = next.metadata.resourceVersion;
    if (rv !== undefined && rv !== "" && rv !== old.metadata.resourceVersion) throw conflict(rt, name, STALE);
    return this.replace(rt, ns, old, next, sub, o);
  }

  private replace(
    rt: ResourceType,
    ns: string | undefined,
    old: KObj,
    input: KObj,
    sub: string,
    o: WriteOptions,
  ): WriteResult {
    let next = input;
    if (sub === "status") {
      next = clone(old);
      if (input.status === undefined) delete next.status;
      else next.status = input.status;
    }
    next.metadata.managedFields = old.metadata.managedFields;
    const warnings = this.prepare(rt, ns, old, next, sub, o);
    recordUpdate(old, next, this.ctx(rt, sub, o));
    return { obj: this.commit(rt, old, next, o), created: false, warnings };
  }

  patch(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    contentType: string,
    text: string,
    sub: string,
    o: WriteOptions,
  ): WriteResult {
    const accepted = ["application/json-patch+json", "application/merge-patch+json"];
    if (!rt.crd) accepted.push("application/strategic-merge-patch+json");
    accepted.push("application/apply-patch+yaml");
    if (!accepted.includes(contentType)) throw unsupportedMediaType(accepted);
    if (contentType === "application/apply-patch+yaml")
      return applyPatch(this, this.store, rt, ns, name, text, sub, o);
    let patch: unknown;
    try {
      patch = JSON.parse(text);
    } catch (e) {
      throw badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    const old = this.current(rt, ns, name);
    let next: KObj;
    if (contentType === "application/json-patch+json") next = jsonPatch(old, patch);
    else if (contentType === "application/merge-patch+json") next = mergePatch(old, patch);
    else next = strategicMergePatch(old, patch, shapeOf(rt));
    // patches share untouched subtrees with the stored object: never mutate it
    next = clone(next);
    this.checkKind(rt, next);
    const rv = isObj(patch) ? (patch as KObj).metadata?.resourceVersion : undefined;
    if (rv !== undefined && rv !== old.metadata.resourceVersion) throw conflict(rt, name, STALE);
    return this.replace(rt, ns, old, next, sub, o);
  }
}
