/**
 * CustomResourceDefinitions: validation and defaulting of the CRD itself, the
 * status the apiextensions controllers set (NamesAccepted, Established,
 * acceptedNames, storedVersions), serving its resource, and cleanup on delete.
 */
import type { PrinterColumn, Registry, ResourceType } from "./registry.ts";
import { storageKey } from "./registry.ts";
import type { FieldError } from "./status.ts";
import type { Store } from "./store.ts";
import { clone, deepEqual, type Json, type KObj, nowTime } from "./types.ts";
import { fmtValue, invalidValue, required } from "./validate.ts";

export const CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions";

const AGE: PrinterColumn = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
};

export function isCrd(rt: ResourceType): boolean {
  return storageKey(rt) === CRD_KEY;
}

export function defaultCrd(crd: KObj): void {
  const spec = crd.spec ?? {};
  const names = spec.names ?? {};
  if (names.kind) {
    names.singular ??= String(names.kind).toLowerCase();
    names.listKind ??= `${names.kind}List`;
  }
  spec.conversion ??= { strategy: "None" };
}

export function validateCrd(crd: KObj): FieldError[] {
  const errs: FieldError[] = [];
  const spec = crd.spec ?? {};
  if (!spec.group) errs.push(required("spec.group"));
  if (!spec.names?.plural) errs.push(required("spec.names.plural"));
  if (!spec.names?.kind) errs.push(required("spec.names.kind"));
  if (spec.group && spec.names?.plural && crd.metadata?.name !== `${spec.names.plural}.${spec.group}`) {
    errs.push(invalidValue("metadata.name", crd.metadata?.name, 'must be spec.names.plural+"."+spec.group'));
  }
  if (!["Namespaced", "Cluster"].includes(spec.scope)) {
    errs.push({
      type: "NotSupported",
      field: "spec.scope",
      body: `Unsupported value: ${fmtValue(spec.scope ?? "")}: supported values: "Cluster", "Namespaced"`,
    });
  }
  const versions: Json[] = Array.isArray(spec.versions) ? spec.versions : [];
  if (versions.filter((v) => v.storage).length !== 1) {
    errs.push(
      invalidValue("spec.versions", versions, "must have exactly one version marked as storage version"),
    );
  }
  versions.forEach((v, i) => {
    if (!v.name) errs.push(required(`spec.versions[${i}].name`));
    if (!v.schema?.openAPIV3Schema) {
      errs.push({
        type: "Required",
        field: `spec.versions[${i}].schema.openAPIV3Schema`,
        body: "Required value: schemas are required",
      });
    }
  });
  return errs;
}

/** The resource types a CRD serves. */
export function crdTypes(crd: KObj): ResourceType[] {
  const spec = crd.spec;
  const names = spec.names;
  return (spec.versions ?? [])
    .filter((v: Json) => v.served)
    .map(
      (v: Json): ResourceType => ({
        group: spec.group,
        version: v.name,
        plural: names.plural,
        singular: names.singular ?? String(names.kind).toLowerCase(),
        kind: names.kind,
        namespaced: spec.scope === "Namespaced",
        shortNames: names.shortNames ?? [],
        categories: names.categories ?? [],
        verbs: ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
        statusSubresource: Boolean(v.subresources?.status),
        generation: true,
        fieldLabels: (v.selectableFields ?? []).map((f: Json) => String(f.jsonPath).replace(/^\./, "")),
        crd: {
          name: crd.metadata.name,
          schema: v.schema?.openAPIV3Schema,
          printerColumns: v.additionalPrinterColumns?.length ? v.additionalPrinterColumns : [AGE],
        },
      }),
    );
}

function condition(type: string, reason: string, message: string, now: string): KObj {
  return { type, status: "True", lastTransitionTime: now, reason, message };
}

export class Crds {
  private readonly store: Store;
  private readonly registry: Registry;
  private readonly clock: () => number;

  constructor(store: Store, registry: Registry, clock: () => number) {
    this.store = store;
    this.registry = registry;
    this.clock = clock;
  }

  /** After a CRD write: serve its resources and set the controllers' status. */
  established(crd: KObj): void {
    if (crd.metadata.deletionTimestamp) return;
    this.registry.removeCrd(crd.metadata.name);
    this.registry.add(crdTypes(crd));
    const names = clone(crd.spec.names);
    const storage = crd.spec.versions.find((v: Json) => v.storage)?.name;
    const old = crd.status ?? {};
    const stored: string[] = [...(old.storedVersions ?? [])];
    if (storage && !stored.includes(storage)) stored.push(storage);
    const now = nowTime(this.clock);
    const keep = (c: KObj): KObj => {
      const prev = (old.conditions ?? []).find((x: KObj) => x.type === c.type && x.status === c.status);
      return prev ? { ...c, lastTransitionTime: prev.lastTransitionTime } : c;
    };
    const status = {
      conditions: [
        keep(condition("NamesAccepted", "NoConflicts", "no conflicts found", now)),
        keep(condition("Established", "InitialNamesAccepted", "the initial names have been accepted", now)),
      ],
      acceptedNames: names,
      storedVersions: stored,
    };
    if (deepEqual(old, status)) return;
    const next = clone(crd);
    next.status = status;
    this.store.put(CRD_KEY, next);
  }

  /** Delete every object of the CRD's resource, stop serving it, release the CRD. */
  remove(crd: KObj): void {
    const types = this.registry.removeCrd(crd.metadata.name);
    const first = types[0];
    if (first) {
      for (const o of this.store.list(storageKey(first))) {
        this.store.remove(storageKey(first), o.metadata.namespace, o.metadata.name);
      }
    }
  }

  /** Serve the CRDs already stored (none at start-up; kept for symmetry with restarts). */
  restore(): void {
    for (const crd of this.store.list(CRD_KEY)) this.registry.add(crdTypes(crd));
  }
}
