/**
 * Field sets as structured-merge-diff knows them: paths of elements
 * `f:<field>`, `k:<key json>`, `v:<value json>`, serialised in managedFields
 * as FieldsV1 trees (`.` marks a node that is itself a member).
 */
import type { ShapeOf } from "./shape.ts";
import { deepEqual, isObj, type Json } from "./types.ts";

const SEP = "\u0000";
export type FieldSet = Set<string>;

export const key = (els: string[]): string => els.join(SEP);
export const elems = (k: string): string[] => (k === "" ? [] : k.split(SEP));

/** Go's json.Marshal of a map: keys sorted. */
export function stableJson(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (isObj(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** Metadata that no manager ever owns (the strip-meta manager's list). */
const STRIPPED = new Set(["apiVersion", "kind"]);
const STRIPPED_META = new Set([
  "name",
  "namespace",
  "creationTimestamp",
  "selfLink",
  "uid",
  "generation",
  "managedFields",
  "resourceVersion",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
]);

export function namesOf(els: string[]): string[] {
  return els.map((e) => (e.startsWith("f:") ? e.slice(2) : "[]"));
}

export function fieldsOf(obj: Json, shape: ShapeOf): FieldSet {
  const out: FieldSet = new Set();
  const walk = (v: Json, els: string[], names: string[]): void => {
    if (isObj(v)) {
      const s = shape(names, v);
      if (s.kind === "atomic") {
        out.add(key(els));
        return;
      }
      const all = Object.keys(v);
      const keys = all.filter((k) => {
        if (els.length === 0) return !STRIPPED.has(k);
        if (els.length === 1 && els[0] === "f:metadata") return !STRIPPED_META.has(k);
        return true;
      });
      if (els.length > 0 && (s.kind === "map" || all.length === 0)) out.add(key(els));
      for (const k of keys) walk(v[k], [...els, `f:${k}`], [...names, k]);
      return;
    }
    if (Array.isArray(v)) {
      const s = shape(names, v);
      if (s.kind === "listMap") {
        for (const item of v) {
          if (!isObj(item)) continue;
          const kEl = `k:${stableJson(Object.fromEntries(s.keys.filter((k) => k in item).map((k) => [k, item[k]])))}`;
          out.add(key([...els, kEl]));
          for (const k of Object.keys(item)) walk(item[k], [...els, kEl, `f:${k}`], [...names, "[]", k]);
        }
        return;
      }
      if (s.kind === "listSet") {
        for (const item of v) out.add(key([...els, `v:${stableJson(item)}`]));
        return;
      }
    }
    out.add(key(els));
  };
  walk(obj, [], []);
  out.delete("");
  return out;
}

function findItem(list: Json, el: string): number {
  if (!Array.isArray(list)) return -1;
  if (el.startsWith("k:")) {
    const want = JSON.parse(el.slice(2));
    return list.findIndex((x) => isObj(x) && Object.keys(want).every((k) => deepEqual(x[k], want[k])));
  }
  const want = JSON.parse(el.slice(2));
  return list.findIndex((x) => deepEqual(x, want));
}

export function valueAt(obj: Json, els: string[]): Json {
  let cur = obj;
  for (const el of els) {
    if (el.startsWith("f:")) cur = isObj(cur) ? cur[el.slice(2)] : undefined;
    else {
      const i = findItem(cur, el);
      cur = i >= 0 ? cur[i] : undefined;
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

export function removeAt(obj: Json, els: string[]): void {
  const parent = valueAt(obj, els.slice(0, -1));
  const last = els[els.length - 1];
  if (last === undefined || parent === undefined) return;
  if (last.startsWith("f:")) {
    if (isObj(parent)) delete parent[last.slice(2)];
  } else if (Array.isArray(parent)) {
    const i = findItem(parent, last);
    if (i >= 0) parent.splice(i, 1);
  }
}

/** Was the value at a path changed between two objects? Nodes compare by existence. */
export function changedAt(a: Json, b: Json, k: string, shape: ShapeOf): boolean {
  const els = elems(k);
  const va = valueAt(a, els);
  const vb = valueAt(b, els);
  if ((va === undefined) !== (vb === undefined)) return true;
  if (va === undefined) return false;
  const last = els[els.length - 1] ?? "";
  if (last.startsWith("k:")) return false;
  if (isObj(vb) || Array.isArray(vb)) {
    const s = shape(namesOf(els), vb);
    if (s.kind !== "atomic") return false;
  }
  return !deepEqual(va, vb);
}

/** ".spec.containers[name=\"c\"].image", like fieldpath.Path.String(). */
export function pathString(k: string): string {
  return elems(k)
    .map((el) => {
      if (el.startsWith("f:")) return `.${el.slice(2)}`;
      if (el.startsWith("v:")) return `[=${el.slice(2)}]`;
      const o = JSON.parse(el.slice(2));
      return `[${Object.keys(o)
        .sort()
        .map((x) => `${x}=${stableJson(o[x])}`)
        .join(",")}]`;
    })
    .join("");
}

export function toFieldsV1(set: FieldSet): Json {
  const root: Json = {};
  const member = new Set<Json>();
  for (const k of [...set].sort()) {
    let node = root;
    for (const el of elems(k)) {
      node[el] ??= {};
      node = node[el];
    }
    member.add(node);
  }
  const render = (n: Json): Json => {
    const out: Json = {};
    const kids = Object.keys(n);
    if (member.has(n) && kids.length > 0) out["."] = {};
    for (const k of kids) out[k] = render(n[k]);
    return out;
  };
  return render(root);
}

export function fromFieldsV1(tree: Json): FieldSet {
  const out: FieldSet = new Set();
  const walk = (n: Json, els: string[]): void => {
    const kids = isObj(n) ? Object.keys(n) : [];
    if (kids.length === 0 && els.length) out.add(key(els));
    for (const k of kids) {
      if (k === ".") out.add(key(els));
      else walk(n[k], [...els, k]);
    }
  };
  walk(tree, []);
  return out;
}
