// Unknown fields, which JSON-schema validation lets through because the Kubernetes
// OpenAPI schemas allow additional properties. An API server drops them with at most a
// warning, so a typo such as `readOnlyRootFileSystem` silently turns a protection off.
// The field lists are @kubernetes/client-node's models, generated from the Kubernetes
// OpenAPI spec (each model's getAttributeTypeMap()).
import * as k8s from "@kubernetes/client-node";

interface Attribute {
  baseName: string;
  type: string;
}
type ModelClass = { getAttributeTypeMap(): Attribute[] };

const models = k8s as unknown as Record<string, ModelClass | undefined>;
const modelOf = (type: string): ModelClass | undefined => {
  const model = models[type];
  return typeof model?.getAttributeTypeMap === "function" ? model : undefined;
};

/** The client-node model of a top-level object, e.g. apps/v1 DaemonSet → V1DaemonSet. */
export function modelName(apiVersion: string, kind: string): string | undefined {
  const version = apiVersion.split("/").at(-1) ?? "";
  const name = `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
  return modelOf(name) ? name : undefined;
}

function walk(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, array[1] ?? "", `${path}/${i}`, out);
    }
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, map[1] ?? "", `${path}/${k}`, out);
    }
    return;
  }
  const model = modelOf(type);
  if (!model || typeof value !== "object" || Array.isArray(value)) return;
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, child] of Object.entries(value)) {
    const childType = attributes.get(key);
    if (childType === undefined) out.push(`${path}/${key} is not a field of ${type}`);
    else walk(child, childType, `${path}/${key}`, out);
  }
}

/** "path is not a field of Type" for every unknown field; [] when the kind has no model. */
export function unknownFields(object: { apiVersion: string; kind: string }): string[] {
  const name = modelName(object.apiVersion, object.kind);
  if (!name) return [];
  const out: string[] = [];
  walk(object, name, "", out);
  return out;
}
