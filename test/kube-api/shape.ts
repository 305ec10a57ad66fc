/**
 * How a field merges, for strategic merge patch, server-side apply and managed
 * fields: a struct (known fields), a granular map (arbitrary keys), atomic
 * (replaced whole), a list keyed by fields (`listMap`) or a set of scalars.
 * Custom resources read it from the CRD's structural schema; built-ins from
 * the patch strategies / list types of the Kubernetes API types they use.
 */
import type { Json } from "./types.ts";

export type Shape =
  | { kind: "struct" }
  | { kind: "map" }
  | { kind: "atomic" }
  | { kind: "listMap"; keys: string[] }
  | { kind: "listSet" };

/** path: field names, with "[]" standing for "an item of the list above". */
export type ShapeOf = (path: string[], value: unknown) => Shape;

const MAP_FIELDS = new Set([
  "labels",
  "annotations",
  "data",
  "binaryData",
  "matchLabels",
  "nodeSelector",
  "limits",
  "requests",
  "stringData",
]);

const LIST_KEYS: Record<string, string[]> = {
  containers: ["name"],
  initContainers: ["name"],
  ephemeralContainers: ["name"],
  env: ["name"],
  volumes: ["name"],
  volumeMounts: ["mountPath"],
  volumeDevices: ["devicePath"],
  imagePullSecrets: ["name"],
  conditions: ["type"],
  ownerReferences: ["uid"],
  hostAliases: ["ip"],
  podIPs: ["ip"],
  hostIPs: ["ip"],
  ports: ["containerPort", "protocol"],
  resourceClaims: ["name"],
  schedulingGates: ["name"],
  topologySpreadConstraints: ["topologyKey", "whenUnsatisfiable"],
};

const SET_FIELDS = new Set(["finalizers"]);

function byValue(value: unknown): Shape {
  if (Array.isArray(value)) return { kind: "atomic" };
  if (value !== null && typeof value === "object") return { kind: "struct" };
  return { kind: "atomic" };
}

export const builtinShape: ShapeOf = (path, value) => {
  const last = path[path.length - 1];
  if (last === undefined || last === "[]") return byValue(value);
  if (MAP_FIELDS.has(last)) return { kind: "map" };
  if (SET_FIELDS.has(last)) return { kind: "listSet" };
  const keys = LIST_KEYS[last];
  if (keys && Array.isArray(value)) return { kind: "listMap", keys };
  return byValue(value);
};

/** Walk a structural schema along `path`; undefined when the path leaves it. */
export function schemaAt(schema: Json, path: string[]): Json {
  let s = schema;
  for (const seg of path) {
    if (!s) return undefined;
    if (seg === "[]") s = s.items;
    else if (s.properties?.[seg]) s = s.properties[seg];
    else if (s.additionalProperties && typeof s.additionalProperties === "object") s = s.additionalProperties;
    else return undefined;
  }
  return s;
}

export function crdShape(schema: Json): ShapeOf {
  return (path, value) => {
    if (path[0] === "metadata") return builtinShape(path, value);
    const s = schemaAt(schema, path);
    if (!s) {
      // outside the schema (x-kubernetes-preserve-unknown-fields): maps are granular, lists atomic
      return value !== null && typeof value === "object" && !Array.isArray(value)
        ? { kind: "map" }
        : { kind: "atomic" };
    }
    if (s.type === "array" || Array.isArray(value)) {
      if (s["x-kubernetes-list-type"] === "map")
        return { kind: "listMap", keys: s["x-kubernetes-list-map-keys"] ?? [] };
      if (s["x-kubernetes-list-type"] === "set") return { kind: "listSet" };
      return { kind: "atomic" };
    }
    if (s.type === "object" || (value !== null && typeof value === "object")) {
      if (s["x-kubernetes-map-type"] === "atomic") return { kind: "atomic" };
      if (s.properties) return { kind: "struct" };
      return { kind: "map" };
    }
    return { kind: "atomic" };
  };
}
