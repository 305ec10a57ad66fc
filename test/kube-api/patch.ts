/**
 * The three classic patch types: JSON merge patch (RFC 7386), JSON patch
 * (RFC 6902) and strategic merge patch for built-in kinds (lists merged by
 * their patch merge key, `$patch`, `$setElementOrder`, `$retainKeys`,
 * `$deleteFromPrimitiveList` directives).
 */
import type { ShapeOf } from "./shape.ts";
import { ApiError, badRequest } from "./status.ts";
import { clone, deepEqual, isObj, type Json } from "./types.ts";

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return clone(patch);
  const out: Json = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function unescapePointer(seg: string): string {
  return seg.replace(/~1/g, "/").replace(/~0/g, "~");
}

function invalidPatch(msg: string): ApiError {
  return new ApiError(422, "Invalid", msg);
}

function walk(doc: Json, pointer: string): { parent: Json; key: string } {
  if (pointer === "") throw invalidPatch("the root of the document cannot be patched");
  const segs = pointer.split("/").slice(1).map(unescapePointer);
  let cur = doc;
  for (const s of segs.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(s)] : isObj(cur) ? cur[s] : undefined;
    if (cur === undefined) throw invalidPatch(`doc is missing path: "${pointer}": missing value`);
  }
  return { parent: cur, key: segs[segs.length - 1] ?? "" };
}

function read(doc: Json, pointer: string): Json {
  const { parent, key } = walk(doc, pointer);
  const v = Array.isArray(parent) ? parent[Number(key)] : parent?.[key];
  if (v === undefined) throw invalidPatch(`doc is missing path: "${pointer}": missing value`);
  return v;
}

function add(doc: Json, pointer: string, value: Json): void {
  const { parent, key } = walk(doc, pointer);
  if (Array.isArray(parent)) {
    const i = key === "-" ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length))
      throw invalidPatch(`add operation does not apply: doc is missing path: "${pointer}"`);
    parent.splice(i, 0, value);
  } else if (isObj(parent)) parent[key] = value;
  else throw invalidPatch(`add operation does not apply: doc is missing path: "${pointer}": missing value`);
}

function remove(doc: Json, pointer: string): void {
  const { parent, key } = walk(doc, pointer);
  if (Array.isArray(parent) && Number(key) < parent.length) parent.splice(Number(key), 1);
  else if (isObj(parent) && key in parent) delete parent[key];
  else
    throw invalidPatch(`remove operation does not apply: doc is missing path: "${pointer}": missing value`);
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops))
    throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  const doc = clone(target);
  for (const op of ops) {
    const path = String(op?.path ?? "");
    switch (op?.op) {
      case "add":
        add(doc, path, clone(op.value));
        break;
      case "remove":
        remove(doc, path);
        break;
      case "replace":
        read(doc, path);
        remove(doc, path);
        add(doc, path, clone(op.value));
        break;
      case "move": {
        const v = read(doc, op.from);
        remove(doc, op.from);
        add(doc, path, v);
        break;
      }
      case "copy":
        add(doc, path, clone(read(doc, op.from)));
        break;
      case "test":
        if (!deepEqual(read(doc, path), op.value))
          throw invalidPatch(`testing value ${path} failed: test failed`);
        break;
      default:
        throw badRequest(`Unexpected kind: ${op?.op}`);
    }
  }
  return doc;
}

/** Strategic merge patch of `patch` onto `target`; `shape` says how lists merge. */
export function strategicMergePatch(target: Json, patch: Json, shape: ShapeOf, path: string[] = []): Json {
  if (!isObj(patch)) return clone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === "delete") return undefined;
  const out: Json = isObj(target) ? { ...target } : {};
  const retain: string[] | undefined = patch.$retainKeys;
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys" || k.startsWith("$setElementOrder/")) continue;
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const f = k.slice("$deleteFromPrimitiveList/".length);
      if (Array.isArray(out[f]))
        out[f] = out[f].filter((x: Json) => !(v as Json[]).some((d) => deepEqual(d, x)));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const p = [...path, k];
    const s = shape(p, v);
    if (Array.isArray(v)) out[k] = mergeList(out[k], v, s, shape, p, patch[`$setElementOrder/${k}`]);
    else if (isObj(v) && s.kind !== "atomic") {
      const merged = strategicMergePatch(out[k], v, shape, p);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = clone(v);
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  return out;
}

function mergeList(
  cur: Json,
  patch: Json[],
  s: ReturnType<ShapeOf>,
  shape: ShapeOf,
  path: string[],
  order: Json[] | undefined,
): Json[] {
  const live: Json[] = Array.isArray(cur) ? [...cur] : [];
  if (patch.some((x) => isObj(x) && x.$patch === "replace")) {
    return patch.filter((x) => !(isObj(x) && x.$patch === "replace")).map(clone);
  }
  if (s.kind === "listSet") {
    for (const x of patch) if (!live.some((y) => deepEqual(x, y))) live.push(clone(x));
    return live;
  }
  if (s.kind !== "listMap") return patch.map(clone);
  const key = s.keys[0] ?? "name";
  for (const item of patch) {
    if (!isObj(item)) continue;
    const i = live.findIndex((y) => isObj(y) && deepEqual(y[key], item[key]));
    if (item.$patch === "delete") {
      if (i >= 0) live.splice(i, 1);
      continue;
    }
    const merged = strategicMergePatch(i >= 0 ? live[i] : {}, item, shape, [...path, "[]"]);
    if (i >= 0) live[i] = merged;
    else live.push(merged);
  }
  if (Array.isArray(order)) {
    const rank = (x: Json) => {
      const r = order.findIndex((o) => isObj(o) && isObj(x) && deepEqual(o[key], x[key]));
      return r < 0 ? order.length : r;
    };
    live.sort((a, b) => rank(a) - rank(b));
  }
  return live;
}
