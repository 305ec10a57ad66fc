/**
 * Server-side apply (`application/apply-patch+yaml`): parse the applied
 * configuration, scope it to the main resource or /status, merge it with
 * managed fields and conflicts (managed.ts), then the common write path.
 */
import { parse as parseYaml } from "yaml";
import { pruneBuiltin } from "./builtin-fields.ts";
import { serverSideApply } from "./managed.ts";
import { type ResourceType, storageKey } from "./registry.ts";
import { prune } from "./schema.ts";
import { badRequest, conflict, notFound, STALE } from "./status.ts";
import type { Store } from "./store.ts";
import { apiVersionOf, clone, type KObj } from "./types.ts";
import type { WriteOptions, WriteResult, Writes } from "./writes.ts";

export function applyPatch(
  w: Writes,
  store: Store,
  rt: ResourceType,
  ns: string | undefined,
  name: string,
  text: string,
  sub: string,
  o: WriteOptions,
): WriteResult {
  if (!o.fieldManager) {
    throw badRequest(
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (e) {
    throw badRequest(`error decoding YAML: ${(e as Error).message}`);
  }
  w.checkKind(rt, parsed);
  let cfg: KObj = parsed;
  if (cfg.metadata.name !== undefined && cfg.metadata.name !== name) {
    throw badRequest(
      `the name of the object (${cfg.metadata.name}) does not match the name on the URL (${name})`,
    );
  }
  const probe = clone(cfg);
  const dropped = rt.crd?.schema ? prune(probe, rt.crd.schema) : pruneBuiltin(storageKey(rt), probe);
  if (dropped.length && o.fieldValidation === "Strict") {
    throw badRequest(
      `failed to create typed patch object (${apiVersionOf(rt.group, rt.version)}, Kind=${rt.kind}): .${dropped[0]}: field not declared in schema`,
    );
  }
  cfg = probe;
  const scoped: KObj = clone(cfg);
  if (rt.statusSubresource && sub === "") delete scoped.status;
  if (sub === "status")
    for (const k of Object.keys(scoped))
      if (!["apiVersion", "kind", "metadata", "status"].includes(k)) delete scoped[k];
  // A resourceVersion in the applied configuration is a precondition, on /status too
  // (apiextensions status_strategy.go checks it before the status-only copy).
  const rv = scoped.metadata.resourceVersion;
  if (sub === "status") scoped.metadata = { name: cfg.metadata.name };
  const old = store.get(storageKey(rt), ns, name);
  if (!old && sub) throw notFound(rt, name);
  if (old && rv !== undefined && rv !== old.metadata.resourceVersion) throw conflict(rt, name, STALE);
  if (!old) w.requireNamespace(rt, ns, name);
  const merged = serverSideApply(old, scoped, w.ctx(rt, sub, o), o.force);
  merged.apiVersion = apiVersionOf(rt.group, rt.version);
  merged.kind = rt.kind;
  merged.metadata.name = name;
  const warnings = w.prepare(rt, ns, old, merged, sub, o);
  return { obj: w.commit(rt, old, merged, o), created: !old, warnings };
}
