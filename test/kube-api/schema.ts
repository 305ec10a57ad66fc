/**
 * Custom resource bodies against a CRD's structural schema, the way
 * apiextensions-apiserver handles them: prune unknown fields (reporting them
 * for strict field validation), apply defaults, then validate with
 * kube-openapi's wording converted to field errors.
 */
import type { FieldError } from "./status.ts";
import { deepEqual, isObj, type Json } from "./types.ts";
import { fmtValue } from "./validate.ts";

const PRESERVE = "x-kubernetes-preserve-unknown-fields";
const META_FIELDS = new Set(["apiVersion", "kind", "metadata"]);

function join(path: string, seg: string): string {
  return path ? `${path}.${seg}` : seg;
}

/** Drop fields the schema does not declare; returns the dropped paths. */
export function prune(value: Json, schema: Json, path = "", root = true): string[] {
  const dropped: string[] = [];
  if (!schema) return dropped;
  if (Array.isArray(value)) {
    if (schema.items) {
      value.forEach((v, i) => {
        dropped.push(...prune(v, schema.items, `${path}[${i}]`, false));
      });
    }
    return dropped;
  }
  if (!isObj(value)) return dropped;
  const props = schema.properties ?? {};
  const addl = schema.additionalProperties;
  for (const key of Object.keys(value)) {
    if (root && META_FIELDS.has(key)) continue;
    const p = join(path, key);
    const sub = props[key] ?? (isObj(addl) ? addl : undefined);
    if (value[key] === null && sub && !sub.nullable && !sub[PRESERVE]) {
      delete value[key];
      continue;
    }
    if (sub) dropped.push(...prune(value[key], sub, p, false));
    else if (addl === true || schema[PRESERVE]) continue;
    else {
      dropped.push(p);
      delete value[key];
    }
  }
  return dropped;
}

/** Fill in `default`s of absent properties (after pruning, like the real server). */
export function applySchemaDefaults(value: Json, schema: Json): void {
  if (!schema) return;
  if (Array.isArray(value)) {
    for (const v of value) applySchemaDefaults(v, schema.items);
    return;
  }
  if (!isObj(value)) return;
  for (const [k, sub] of Object.entries<Json>(schema.properties ?? {})) {
    if (value[k] === undefined && sub?.default !== undefined) value[k] = structuredClone(sub.default);
    if (value[k] !== undefined) applySchemaDefaults(value[k], sub);
  }
  if (isObj(schema.additionalProperties)) {
    for (const k of Object.keys(value))
      if (!schema.properties?.[k]) applySchemaDefaults(value[k], schema.additionalProperties);
  }
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeOk(v: unknown, s: Json): boolean {
  if (s["x-kubernetes-int-or-string"]) return typeof v === "string" || Number.isInteger(v);
  if (v === null) return s.nullable === true;
  switch (s.type) {
    case undefined:
      return true;
    case "object":
      return isObj(v);
    case "array":
      return Array.isArray(v);
    case "string":
      return typeof v === "string";
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number";
    case "boolean":
      return typeof v === "boolean";
  }
  return true;
}

/**
 * RFC 3339 date-time as go-openapi strfmt accepts it (what kube-apiserver checks for
 * `format: date-time`): a four-digit year 0000-9999, a real calendar day, hours < 24,
 * minutes < 60, seconds < 60 (a leap second 60 is allowed), optional fraction, Z or ±hh:mm.
 * So "+010000-01-01T00:00:00.000Z" (what Date#toISOString gives past year 9999) is refused.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function isDateTime(v: string): boolean {
  const m = DATE_TIME.exec(v);
  if (!m) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map(Number);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (day < 1 || day > days) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return true;
}

const inv = (field: string, value: unknown, detail: string): FieldError => ({
  type: "Invalid",
  field,
  body: `Invalid value: ${fmtValue(value)}: ${detail}`,
});

/** Validate against the schema; `path` names the field like "spec.signal". */
export function validateSchema(v: Json, s: Json, path = "", errs: FieldError[] = []): FieldError[] {
  if (!s) return errs;
  const at = path || "<nil>";
  if (!typeOk(v, s)) {
    const want = s["x-kubernetes-int-or-string"] ? "integer,string" : s.type;
    errs.push({
      type: "TypeInvalid",
      field: at,
      body: `Invalid value: "${typeName(v)}": ${at} in body must be of type ${want}: "${typeName(v)}"`,
    });
    return errs;
  }
  if (v === null) return errs;
  if (Array.isArray(s.enum) && !s.enum.some((e: unknown) => deepEqual(e, v))) {
    const values = s.enum.map((e: unknown) => JSON.stringify(typeof e === "string" ? e : JSON.stringify(e)));
    errs.push({
      type: "NotSupported",
      field: at,
      body: `Unsupported value: ${fmtValue(v)}: supported values: ${values.join(", ")}`,
    });
  }
  if (typeof v === "number") {
    if (s.minimum !== undefined && (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum)) {
      errs.push(
        inv(
          at,
          v,
          `${at} in body should be greater than ${s.exclusiveMinimum ? "" : "or equal to "}${s.minimum}`,
        ),
      );
    }
    if (s.maximum !== undefined && (s.exclusiveMaximum ? v >= s.maximum : v > s.maximum)) {
      errs.push(
        inv(
          at,
          v,
          `${at} in body should be less than ${s.exclusiveMaximum ? "" : "or equal to "}${s.maximum}`,
        ),
      );
    }
    if (s.multipleOf !== undefined && v % s.multipleOf !== 0) {
      errs.push(inv(at, v, `${at} in body should be a multiple of ${s.multipleOf}`));
    }
  }
  if (typeof v === "string") {
    const len = [...v].length;
    if (s.maxLength !== undefined && len > s.maxLength) {
      errs.push({ type: "TooLong", field: at, body: `Too long: may not be longer than ${s.maxLength}` });
    }
    if (s.minLength !== undefined && len < s.minLength) {
      errs.push(inv(at, v, `${at} in body should be at least ${s.minLength} chars long`));
    }
    if (s.pattern !== undefined && !new RegExp(s.pattern, "u").test(v)) {
      errs.push(inv(at, v, `${at} in body should match '${s.pattern}'`));
    }
    if (s.format === "date-time" && !isDateTime(v)) {
      // kube-openapi's strfmt check, reported as apiextensions-apiserver does.
      errs.push(inv(at, v, `${at} in body must be of type date-time: ${JSON.stringify(v)}`));
    }
  }
  if (Array.isArray(v)) validateArray(v, s, at, path, errs);
  if (isObj(v)) {
    const n = Object.keys(v).length;
    if (s.maxProperties !== undefined && n > s.maxProperties) {
      errs.push({
        type: "TooMany",
        field: at,
        body: `Too many: ${n}: must have at most ${s.maxProperties} items`,
      });
    }
    if (s.minProperties !== undefined && n < s.minProperties) {
      errs.push(inv(at, n, `${at} in body should have at least ${s.minProperties} properties`));
    }
    for (const r of s.required ?? []) {
      if (v[r] === undefined) errs.push({ type: "Required", field: join(path, r), body: "Required value" });
    }
    for (const [k, child] of Object.entries(v)) {
      if (!path && META_FIELDS.has(k)) continue;
      const sub = s.properties?.[k] ?? (isObj(s.additionalProperties) ? s.additionalProperties : undefined);
      if (sub) validateSchema(child, sub, join(path, k), errs);
    }
  }
  return errs;
}

function validateArray(v: Json[], s: Json, at: string, path: string, errs: FieldError[]): void {
  if (s.maxItems !== undefined && v.length > s.maxItems) {
    errs.push({
      type: "TooMany",
      field: at,
      body: `Too many: ${v.length}: must have at most ${s.maxItems} items`,
    });
  }
  if (s.minItems !== undefined && v.length < s.minItems) {
    errs.push(inv(at, v.length, `${at} in body should have at least ${s.minItems} items`));
  }
  const lt = s["x-kubernetes-list-type"];
  const keys: string[] = s["x-kubernetes-list-map-keys"] ?? [];
  const seen: unknown[] = [];
  v.forEach((item, i) => {
    const id = lt === "map" && isObj(item) ? Object.fromEntries(keys.map((k) => [k, item[k]])) : item;
    if ((lt === "set" || lt === "map") && seen.some((x) => deepEqual(x, id))) {
      errs.push({ type: "Duplicate", field: `${path}[${i}]`, body: `Duplicate value: ${fmtValue(id)}` });
    }
    seen.push(id);
    validateSchema(item, s.items, `${path}[${i}]`, errs);
  });
  if (s.uniqueItems && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) {
    errs.push(inv(at, v, `${at} in body shouldn't contain duplicates`));
  }
}
