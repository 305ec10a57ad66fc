/**
 * meta.k8s.io/v1 Table responses (what `kubectl get` asks for): built-in
 * printers, or a CRD's additionalPrinterColumns evaluated with JSONPath the way
 * apiextensions-apiserver's table convertor does.
 */
import { age } from "./age.ts";
import { evaluate } from "./jsonpath.ts";
import { type Column, DEFAULT_PRINTER, PRINTERS, type Printer } from "./printers.ts";
import { type ResourceType, storageKey } from "./registry.ts";
import type { Json, KObj } from "./types.ts";

/** Does this Accept header ask for a Table? */
export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? "").split(",").some((part) => {
    const p = part.replace(/\s/g, "");
    return p.includes("as=Table") && p.includes("g=meta.k8s.io") && /v=v1(beta1)?(;|$)/.test(p);
  });
}

function cell(type: string, v: Json, now: number): unknown {
  if (v === undefined || v === null) return null;
  switch (type) {
    case "integer":
      return typeof v === "number" ? Math.trunc(v) : null;
    case "number":
      return typeof v === "number" ? v : null;
    case "boolean":
      return typeof v === "boolean" ? v : null;
    case "date":
      return typeof v === "string" ? age(v, now) : null;
    default:
      return typeof v === "string" ? v : JSON.stringify(v);
  }
}

function crdPrinter(rt: ResourceType): Printer {
  const cols = rt.crd?.printerColumns ?? [];
  const columns: Column[] = [
    { ...(PRINTERS["/pods"]?.columns[0] as Column) },
    ...cols.map((c) => {
      const out: Column = {
        name: c.name,
        type: c.type,
        description: c.description ?? "",
        priority: c.priority ?? 0,
      };
      if (c.format) out.format = c.format;
      return out;
    }),
  ];
  return {
    columns,
    cells: (obj, now) => [
      obj.metadata.name,
      ...cols.map((c) => {
        const found = evaluate(obj, c.jsonPath);
        return found.length ? cell(c.type, found[0], now) : null;
      }),
    ],
  };
}

function printerFor(rt: ResourceType): Printer {
  if (rt.crd) return crdPrinter(rt);
  return PRINTERS[storageKey(rt)] ?? DEFAULT_PRINTER;
}

function rowObject(obj: KObj, include: string): KObj | undefined {
  if (include === "None") return undefined;
  if (include === "Object") return obj;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.metadata };
}

export interface TableOptions {
  includeObject: string;
  now: number;
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
  /** watch events after the first carry no column definitions */
  omitColumns?: boolean;
}

export function toTable(rt: ResourceType, objs: KObj[], o: TableOptions): KObj {
  const p = printerFor(rt);
  const metadata: KObj = { resourceVersion: o.resourceVersion };
  if (o.continueToken) metadata.continue = o.continueToken;
  if (o.remainingItemCount !== undefined) metadata.remainingItemCount = o.remainingItemCount;
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata,
    columnDefinitions: o.omitColumns ? null : p.columns,
    rows: objs.map((obj) => {
      const row: KObj = { cells: p.cells(obj, o.now) };
      const ro = rowObject(obj, o.includeObject);
      if (ro) row.object = ro;
      return row;
    }),
  };
}
