/**
 * Label selectors (all operators of k8s.io/apimachinery/pkg/labels) and field
 * selectors (=, ==, != over the field labels a resource supports).
 */
import { badRequest } from "./status.ts";
import type { KObj } from "./types.ts";

export type LabelOp = "=" | "!=" | "in" | "notin" | "exists" | "!" | ">" | "<";
export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

const IDENT = /[A-Za-z0-9_.\-/]/;

function lex(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s.charAt(i);
    if (c === " " || c === "\t") {
      i++;
    } else if ("(),".includes(c)) {
      out.push(c);
      i++;
    } else if (c === "=" || c === "!") {
      const two = s.slice(i, i + 2);
      if (two === "==" || two === "!=") {
        out.push(two);
        i += 2;
      } else {
        out.push(c);
        i++;
      }
    } else if (c === ">" || c === "<") {
      out.push(c);
      i++;
    } else if (IDENT.test(c)) {
      let j = i;
      while (j < s.length && IDENT.test(s.charAt(j))) j++;
      out.push(`#${s.slice(i, j)}`);
      i = j;
    } else {
      throw badRequest(`unable to parse requirement: found '${c}', expected: identifier`);
    }
  }
  return out;
}

function fail(found: string | undefined, expected: string): never {
  const f = found === undefined ? "" : found.replace(/^#/, "");
  throw badRequest(`unable to parse requirement: found '${f}', expected: ${expected}`);
}

export function parseLabelSelector(s: string | null | undefined): LabelRequirement[] {
  if (!s) return [];
  const t = lex(s);
  let i = 0;
  const reqs: LabelRequirement[] = [];
  const ident = (expected: string): string => {
    const tok = t[i++];
    if (!tok?.startsWith("#")) fail(tok, expected);
    return tok.slice(1);
  };
  for (;;) {
    if (t[i] === "!") {
      i++;
      reqs.push({ key: ident("identifier"), op: "!", values: [] });
    } else {
      const key = ident("identifier");
      const op = t[i];
      if (op === undefined || op === ",") {
        reqs.push({ key, op: "exists", values: [] });
      } else if (op === "=" || op === "==" || op === "!=" || op === ">" || op === "<") {
        i++;
        const v = t[i]?.startsWith("#") ? ident("identifier") : "";
        reqs.push({ key, op: op === "==" ? "=" : op, values: [v] });
      } else if (op === "#in" || op === "#notin") {
        i++;
        if (t[i++] !== "(") fail(t[i - 1], "'('");
        const values: string[] = [];
        while (t[i] !== ")") {
          if (t[i] === ",") {
            i++;
            continue;
          }
          if (t[i] === undefined) fail("", "')'");
          values.push(ident("',', ')' or identifier"));
        }
        i++;
        reqs.push({ key, op: op === "#in" ? "in" : "notin", values });
      } else {
        fail(op, "in, notin, =, ==, !=, gt, lt");
      }
    }
    if (i >= t.length) break;
    if (t[i++] !== ",") fail(t[i - 1], "','");
  }
  return reqs;
}

export function matchesLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case "=":
        return has && v === r.values[0];
      case "!=":
        return !has || v !== r.values[0];
      case "in":
        return has && r.values.includes(v ?? "");
      case "notin":
        return !has || !r.values.includes(v ?? "");
      case "exists":
        return has;
      case "!":
        return !has;
      case ">":
        return has && Number(v) > Number(r.values[0]);
      case "<":
        return has && Number(v) < Number(r.values[0]);
    }
    return false;
  });
}

export interface FieldRequirement {
  field: string;
  op: "=" | "!=";
  value: string;
}

export function parseFieldSelector(s: string | null | undefined, supported: string[]): FieldRequirement[] {
  if (!s) return [];
  const out: FieldRequirement[] = [];
  for (const term of s.split(",")) {
    if (!term) continue;
    const m = /^([^=!]+)(==|!=|=)(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
    const field = (m[1] ?? "").trim();
    if (!["metadata.name", "metadata.namespace", ...supported].includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    out.push({ field, op: m[2] === "!=" ? "!=" : "=", value: (m[3] ?? "").replace(/\\(.)/g, "$1") });
  }
  return out;
}

function fieldValue(obj: KObj, field: string): string {
  if (field === "source") return String(obj.source?.component ?? "");
  if (field === "spec.hostNetwork") return String(obj.spec?.hostNetwork === true);
  if (field === "status.successful") return String(obj.status?.succeeded ?? 0);
  let cur: unknown = obj;
  for (const part of field.split(".")) {
    cur = cur && typeof cur === "object" ? (cur as KObj)[part] : undefined;
  }
  return cur === undefined || cur === null ? "" : String(cur);
}

export function matchesFields(reqs: FieldRequirement[], obj: KObj): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) === (r.op === "="));
}
