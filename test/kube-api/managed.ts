/**
 * metadata.managedFields: who owns which field. Updates (PUT, merge/JSON/
 * strategic patches) take ownership of what they changed; server-side apply
 * owns exactly what it applied, conflicts with other owners of fields it would
 * change (409 unless force), and removes fields it stopped applying.
 */
import {
  changedAt,
  elems,
  type FieldSet,
  fieldsOf,
  fromFieldsV1,
  pathString,
  removeAt,
  toFieldsV1,
} from "./fieldset.ts";
import type { ShapeOf } from "./shape.ts";
import { ApiError } from "./status.ts";
import { clone, isObj, type Json, type KObj } from "./types.ts";

interface Manager {
  manager: string;
  operation: "Apply" | "Update";
  subresource: string;
  apiVersion: string;
  time: string;
  set: FieldSet;
}

export interface WriteContext {
  manager: string;
  subresource: string;
  apiVersion: string;
  now: string;
  shape: ShapeOf;
}

function read(obj: KObj | undefined): Manager[] {
  const list: Json[] = obj?.metadata?.managedFields ?? [];
  return list.map((e) => ({
    manager: e.manager ?? "",
    operation: e.operation === "Apply" ? "Apply" : "Update",
    subresource: e.subresource ?? "",
    apiVersion: e.apiVersion ?? "",
    time: e.time ?? "",
    set: fromFieldsV1(e.fieldsV1 ?? {}),
  }));
}

function write(obj: KObj, managers: Manager[]): void {
  const entries = managers
    .filter((m) => m.set.size > 0)
    .map((m) => {
      const e: KObj = { manager: m.manager, operation: m.operation, apiVersion: m.apiVersion, time: m.time };
      e.fieldsType = "FieldsV1";
      e.fieldsV1 = toFieldsV1(m.set);
      if (m.subresource) e.subresource = m.subresource;
      return e;
    });
  obj.metadata ??= {};
  if (entries.length) obj.metadata.managedFields = entries;
  else delete obj.metadata.managedFields;
}

function entry(managers: Manager[], ctx: WriteContext, op: Manager["operation"]): Manager {
  let me = managers.find(
    (m) => m.manager === ctx.manager && m.operation === op && m.subresource === ctx.subresource,
  );
  if (!me) {
    me = {
      manager: ctx.manager,
      operation: op,
      subresource: ctx.subresource,
      apiVersion: ctx.apiVersion,
      time: ctx.now,
      set: new Set(),
    };
    managers.push(me);
  }
  me.apiVersion = ctx.apiVersion;
  return me;
}

/** Record a non-apply write of `next` (which replaces `old`) by ctx.manager. */
export function recordUpdate(old: KObj | undefined, next: KObj, ctx: WriteContext): void {
  const managers = read(old);
  const nextSet = fieldsOf(next, ctx.shape);
  const oldSet = old ? fieldsOf(old, ctx.shape) : new Set<string>();
  const changed = new Set<string>();
  for (const p of nextSet) if (!oldSet.has(p) || (old && changedAt(old, next, p, ctx.shape))) changed.add(p);
  const removed = [...oldSet].filter((p) => !nextSet.has(p));
  for (const m of managers) {
    for (const p of removed) m.set.delete(p);
    if (m.manager === ctx.manager && m.operation === "Update" && m.subresource === ctx.subresource) continue;
    for (const p of changed) m.set.delete(p);
  }
  if (changed.size > 0) {
    const me = entry(managers, ctx, "Update");
    for (const p of changed) me.set.add(p);
    me.time = ctx.now;
  }
  write(next, managers);
}

function printManager(m: Manager): string {
  let s = JSON.stringify(m.manager);
  if (m.subresource) s += ` with subresource ${JSON.stringify(m.subresource)}`;
  if (m.operation === "Update") s += ` using ${m.apiVersion}`;
  return s;
}

function conflictError(conflicts: { m: Manager; path: string }[]): ApiError {
  const causes = conflicts.map((c) => ({
    reason: "FieldManagerConflict",
    message: `conflict with ${printManager(c.m)}`,
    field: pathString(c.path),
  }));
  let message: string;
  const [first] = conflicts;
  if (conflicts.length === 1 && first) {
    message = `Apply failed with 1 conflict: conflict with ${printManager(first.m)}: ${pathString(first.path)}`;
  } else {
    const by = new Map<string, string[]>();
    for (const c of conflicts)
      by.set(printManager(c.m), [...(by.get(printManager(c.m)) ?? []), pathString(c.path)]);
    const lines: string[] = [];
    for (const m of [...by.keys()].sort()) {
      lines.push(`conflicts with ${m}:`);
      for (const p of by.get(m) ?? []) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
  }
  return new ApiError(409, "Conflict", message, { causes });
}

function applyMerge(live: Json, cfg: Json, shape: ShapeOf, names: string[]): Json {
  if (isObj(cfg)) {
    if (!isObj(live) || shape(names, cfg).kind === "atomic") return clone(cfg);
    const out: Json = { ...live };
    for (const [k, v] of Object.entries(cfg)) {
      if (v === null) delete out[k];
      else out[k] = applyMerge(live[k], v, shape, [...names, k]);
    }
    return out;
  }
  if (Array.isArray(cfg)) {
    const s = shape(names, cfg);
    const cur: Json[] = Array.isArray(live) ? [...live] : [];
    if (s.kind === "listSet") {
      for (const x of cfg) if (!cur.some((y) => JSON.stringify(y) === JSON.stringify(x))) cur.push(clone(x));
      return cur;
    }
    if (s.kind === "listMap") {
      for (const item of cfg) {
        const i = cur.findIndex(
          (y) => isObj(y) && s.keys.every((k) => JSON.stringify(y[k]) === JSON.stringify(item?.[k])),
        );
        if (i >= 0) cur[i] = applyMerge(cur[i], item, shape, [...names, "[]"]);
        else cur.push(clone(item));
      }
      return cur;
    }
  }
  return clone(cfg);
}

/**
 * Server-side apply of `cfg` onto `live` (undefined: the object is created).
 * Returns the merged object with managedFields set; throws 409 on conflicts.
 */
export function serverSideApply(live: KObj | undefined, cfg: KObj, ctx: WriteContext, force: boolean): KObj {
  const base: KObj = live ? clone(live) : {};
  const managers = read(live);
  const applied = fieldsOf(cfg, ctx.shape);
  const merged = applyMerge(base, cfg, ctx.shape, []);
  const me = entry(managers, ctx, "Apply");
  const conflicts: { m: Manager; path: string }[] = [];
  for (const p of applied) {
    if (!changedAt(base, merged, p, ctx.shape)) continue;
    for (const m of managers) if (m !== me && m.set.has(p)) conflicts.push({ m, path: p });
  }
  if (conflicts.length && !force) throw conflictError(conflicts);
  for (const c of conflicts) c.m.set.delete(c.path);
  const others = managers.filter((m) => m !== me);
  for (const p of me.set) {
    if (applied.has(p)) continue;
    const ownedElsewhere = others.some((m) => [...m.set].some((q) => q === p || q.startsWith(`${p}\u0000`)));
    if (!ownedElsewhere) removeAt(merged, elems(p));
  }
  me.set = applied;
  me.time = ctx.now;
  write(merged, managers);
  return merged;
}
