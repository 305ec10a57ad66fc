/**
 * events.k8s.io/v1 Events: another version of the core/v1 Events (the same
 * objects in storage, like kube-apiserver), with its own field names
 * (regarding, note, reportingController, deprecated*) and its stricter
 * create validation (ValidateEventCreate for events.k8s.io/v1).
 */
import { parse as parseYaml } from "yaml";
import { jsonPatch, mergePatch, strategicMergePatch } from "./patch.ts";
import type { ResourceType } from "./registry.ts";
import type { Target } from "./resources.ts";
import { builtinShape } from "./shape.ts";
import { badRequest, type FieldError, invalid, notFound, unsupportedMediaType } from "./status.ts";
import type { Store } from "./store.ts";
import { clone, type KObj } from "./types.ts";
import { invalidValue, required } from "./validate.ts";
import type { WriteOptions, WriteResult, Writes } from "./writes.ts";

const RENAMES: [string, string][] = [
  ["regarding", "involvedObject"],
  ["note", "message"],
  ["reportingController", "reportingComponent"],
  ["deprecatedSource", "source"],
  ["deprecatedFirstTimestamp", "firstTimestamp"],
  ["deprecatedLastTimestamp", "lastTimestamp"],
  ["deprecatedCount", "count"],
];

function rename(o: KObj, pairs: [string, string][], apiVersion: string): KObj {
  const out: KObj = { ...o, apiVersion, kind: "Event" };
  for (const [from, to] of pairs) {
    delete out[from];
    if (o[from] !== undefined) out[to] = o[from];
  }
  return out;
}

export function toCore(v1: KObj): KObj {
  return rename(v1, RENAMES, "v1");
}

export function fromCore(core: KObj): KObj {
  return rename(
    core,
    RENAMES.map(([a, b]) => [b, a]),
    "events.k8s.io/v1",
  );
}

const NOTE_LIMIT = 1024;

/** The checks an events.k8s.io/v1 create gets beyond the core/v1 ones. */
export function validateEventsV1Create(rt: ResourceType, e: KObj): void {
  const errs: FieldError[] = [];
  if (!e.eventTime) errs.push(required("eventTime"));
  if (e.type !== "Normal" && e.type !== "Warning")
    errs.push(invalidValue("type", "", `has invalid value: ${e.type ?? ""}`));
  for (const f of [
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
    "deprecatedSource",
  ]) {
    if (e[f] !== undefined && e[f] !== null && e[f] !== 0)
      errs.push(invalidValue(f, "", "needs to be unset"));
  }
  if (!e.reportingController) errs.push(required("reportingController"));
  if (!e.reportingInstance) errs.push(required("reportingInstance"));
  if (!e.action) errs.push(required("action"));
  if (!e.reason) errs.push(required("reason"));
  if (typeof e.note === "string" && Buffer.byteLength(e.note) > NOTE_LIMIT) {
    errs.push({ type: "TooLong", field: "note", body: `Too long: may not be more than ${NOTE_LIMIT} bytes` });
  }
  if (e.series && (e.series.count ?? 0) < 2)
    errs.push(invalidValue("series.count", e.series.count ?? 0, "should be at least 2"));
  if (errs.length) throw invalid(rt, String(e.metadata?.name ?? ""), errs);
}

/** events.k8s.io/v1 writes: converted to the core/v1 Events they are stored as. */
export function eventsV1Write(
  writes: Writes,
  store: Store,
  core: ResourceType,
  t: Target,
  contentType: string,
  input: string | KObj,
  opts: WriteOptions,
): WriteResult {
  const name = t.name ?? "";
  if (t.verb === "create" || t.verb === "update") {
    const v1 = input as KObj;
    if (v1.apiVersion !== undefined && v1.apiVersion !== "events.k8s.io/v1") {
      throw badRequest(
        `the API version in the data (${v1.apiVersion}) does not match the expected API version (events.k8s.io/v1)`,
      );
    }
    if (t.verb === "create") {
      validateEventsV1Create(t.rt, v1);
      return writes.create(core, t.namespace, toCore(v1), opts);
    }
    return writes.update(core, t.namespace, name, toCore(v1), t.subresource, opts);
  }
  const text = String(input);
  if (contentType === "application/apply-patch+yaml") {
    const cfg = toCore(parseYaml(text) ?? {});
    return writes.patch(core, t.namespace, name, contentType, JSON.stringify(cfg), t.subresource, opts);
  }
  const current = store.get("/events", t.namespace, name);
  if (!current) throw notFound(t.rt, name);
  const view = fromCore(current);
  let patch: unknown;
  try {
    patch = JSON.parse(text);
  } catch (e) {
    throw badRequest(`error decoding patch: ${(e as Error).message}`);
  }
  let next: KObj;
  if (contentType === "application/json-patch+json") next = jsonPatch(view, patch);
  else if (contentType === "application/merge-patch+json") next = mergePatch(view, patch);
  else if (contentType === "application/strategic-merge-patch+json")
    next = strategicMergePatch(view, patch, builtinShape);
  else {
    throw unsupportedMediaType([
      "application/json-patch+json",
      "application/merge-patch+json",
      "application/strategic-merge-patch+json",
      "application/apply-patch+yaml",
    ]);
  }
  return writes.update(core, t.namespace, name, toCore(clone(next)), t.subresource, opts);
}
