/**
 * The JSONPath subset CRD printer columns use: `.a.b`, `['a.b']`, `[0]`,
 * `[*]`, `[?(@.type=="Ready")]` and `[?(@.x)]`.
 */
import type { Json } from "./types.ts";

type Step =
  | { field: string }
  | { index: number }
  | { all: true }
  | { filter: string[]; op?: string; value?: string };

function parse(path: string): Step[] {
  const steps: Step[] = [];
  let s = path.trim().replace(/^\{|\}$/g, "");
  if (s.startsWith("$")) s = s.slice(1);
  let i = 0;
  while (i < s.length) {
    const c = s.charAt(i);
    if (c === ".") {
      let j = i + 1;
      while (j < s.length && !".[".includes(s.charAt(j))) j++;
      if (j > i + 1) steps.push({ field: s.slice(i + 1, j) });
      i = j;
    } else if (c === "[") {
      const end = s.indexOf("]", i);
      const inner = s.slice(i + 1, end < 0 ? s.length : end);
      i = end < 0 ? s.length : end + 1;
      if (inner === "*") steps.push({ all: true });
      else if (/^-?\d+$/.test(inner)) steps.push({ index: Number(inner) });
      else if (/^'.*'$|^".*"$/.test(inner)) steps.push({ field: inner.slice(1, -1) });
      else if (inner.startsWith("?(")) {
        const m = /^\?\(@((?:\.[\w-]+)+)\s*(==|!=)?\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))?\)$/.exec(inner);
        if (m) {
          const step: Step = { filter: (m[1] ?? "").split(".").filter(Boolean) };
          if (m[2]) {
            step.op = m[2];
            step.value = m[3] ?? m[4] ?? m[5] ?? "";
          }
          steps.push(step);
        }
      }
    } else i++;
  }
  return steps;
}

function get(v: Json, fields: string[]): Json {
  let cur = v;
  for (const f of fields) cur = cur && typeof cur === "object" ? cur[f] : undefined;
  return cur;
}

/** All values `path` selects in `obj` (empty when nothing matches). */
export function evaluate(obj: Json, path: string): Json[] {
  let cur: Json[] = [obj];
  for (const step of parse(path)) {
    const next: Json[] = [];
    for (const v of cur) {
      if (v === undefined || v === null) continue;
      if ("field" in step) {
        if (typeof v === "object" && !Array.isArray(v) && v[step.field] !== undefined)
          next.push(v[step.field]);
      } else if ("index" in step) {
        if (Array.isArray(v)) {
          const x = v[step.index < 0 ? v.length + step.index : step.index];
          if (x !== undefined) next.push(x);
        }
      } else if ("all" in step) {
        if (Array.isArray(v)) next.push(...v);
        else if (typeof v === "object") next.push(...Object.values(v));
      } else if (Array.isArray(v)) {
        for (const item of v) {
          const x = get(item, step.filter);
          if (step.op === undefined ? x !== undefined : (String(x) === step.value) === (step.op === "=="))
            next.push(item);
        }
      }
    }
    cur = next;
  }
  return cur;
}
