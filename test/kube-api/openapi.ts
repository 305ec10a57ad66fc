/**
 * OpenAPI v3 documents (/openapi/v3 and /openapi/v3/<api|apis/g>/<v>) — enough
 * for kubectl: `explain` (schemas found by x-kubernetes-group-version-kind; a
 * CRD's openAPIV3Schema verbatim, so its descriptions show), and `apply`/
 * `create` with validation, which checks that PATCH accepts `fieldValidation`
 * and then leaves validation to the server (strict unknown-field errors for
 * custom resources). Built-in kinds get skeleton schemas, and their PATCH does
 * not list strategic merge patch here, so kubectl computes strategic patches
 * from its compiled-in types, as it does against any server.
 * /openapi/v2 is not served (404): kubectl only falls back to it.
 */
import { createHash } from "node:crypto";
import type { Registry, ResourceType } from "./registry.ts";
import type { Json, KObj } from "./types.ts";

const META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

function schemaName(rt: ResourceType, list = false): string {
  const g = rt.group ? rt.group.split(".").reverse().join(".") : "io.k8s.api.core";
  const base = rt.crd ? g : rt.group ? `io.k8s.api.${rt.group.split(".")[0]}` : g;
  return `${base}.${rt.version}.${rt.kind}${list ? "List" : ""}`;
}

function gvk(rt: ResourceType): KObj {
  return { group: rt.group, kind: rt.kind, version: rt.version };
}

const META_SCHEMA = {
  description:
    "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
  type: "object",
  properties: {
    name: { type: "string", description: "Name must be unique within a namespace." },
    namespace: {
      type: "string",
      description: "Namespace defines the space within which each name must be unique.",
    },
    generateName: {
      type: "string",
      description: "GenerateName is an optional prefix, used by the server, to generate a unique name.",
    },
    labels: {
      type: "object",
      additionalProperties: { type: "string", default: "" },
      description: "Map of string keys and values that can be used to organize and categorize objects.",
    },
    annotations: {
      type: "object",
      additionalProperties: { type: "string", default: "" },
      description: "Annotations is an unstructured key value map stored with a resource.",
    },
    uid: { type: "string", description: "UID is the unique in time and space value for this object." },
    resourceVersion: {
      type: "string",
      description: "An opaque value that represents the internal version of this object.",
    },
    generation: {
      type: "integer",
      format: "int64",
      description: "A sequence number representing a specific generation of the desired state.",
    },
    creationTimestamp: {
      type: "string",
      format: "date-time",
      description:
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    },
    deletionTimestamp: {
      type: "string",
      format: "date-time",
      description: "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.",
    },
    finalizers: {
      type: "array",
      items: { type: "string", default: "" },
      "x-kubernetes-list-type": "set",
      description: "Must be empty before the object is deleted from the registry.",
    },
    ownerReferences: {
      type: "array",
      items: { type: "object" },
      description: "List of objects depended by this object.",
    },
    managedFields: {
      type: "array",
      items: { type: "object" },
      description:
        "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.",
    },
  },
};

function kindSchema(rt: ResourceType): KObj {
  const common = {
    apiVersion: {
      type: "string",
      description: "APIVersion defines the versioned schema of this representation of an object.",
    },
    kind: {
      type: "string",
      description: "Kind is a string value representing the REST resource this object represents.",
    },
    metadata: {
      allOf: [{ $ref: `#/components/schemas/${META}` }],
      default: {},
      description: "Standard object's metadata.",
    },
  };
  const s: Json = rt.crd?.schema
    ? structuredClone(rt.crd.schema)
    : {
        description: `${rt.kind} is a ${rt.group || "core"}/${rt.version} object served by the local kube-api.`,
        type: "object",
        properties: {
          spec: { type: "object", description: `Specification of the desired behavior of the ${rt.kind}.` },
          status: { type: "object", description: `Most recently observed status of the ${rt.kind}.` },
        },
      };
  s.type ??= "object";
  s.properties = { ...common, ...s.properties, metadata: common.metadata };
  s["x-kubernetes-group-version-kind"] = [gvk(rt)];
  return s;
}

function param(name: string, type = "string"): KObj {
  return { name, in: "query", schema: { type, uniqueItems: true } };
}

function ref(name: string): KObj {
  return { "application/json": { schema: { $ref: `#/components/schemas/${name}` } } };
}

function op(rt: ResourceType, action: string, params: KObj[], body?: KObj): KObj {
  const o: KObj = {
    operationId: `${action}${rt.kind}`,
    parameters: params,
    responses: { "200": { description: "OK", content: ref(schemaName(rt, action === "list")) } },
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": gvk(rt),
  };
  if (body) o.requestBody = { content: body, required: true };
  return o;
}

function paths(rt: ResourceType): KObj {
  const prefix = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  const coll = rt.namespaced ? `${prefix}/namespaces/{namespace}/${rt.plural}` : `${prefix}/${rt.plural}`;
  const write = [param("dryRun"), param("fieldManager"), param("fieldValidation")];
  const patchTypes: KObj = {};
  for (const t of [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
  ]) {
    patchTypes[t] = { schema: { $ref: "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch" } };
  }
  const item: KObj = {
    get: op(rt, "get", []),
    put: op(rt, "put", write, ref(schemaName(rt))),
    patch: op(rt, "patch", [...write, param("force", "boolean")], patchTypes),
    delete: op(rt, "delete", [
      param("dryRun"),
      param("gracePeriodSeconds", "integer"),
      param("propagationPolicy"),
    ]),
    parameters: [{ name: "name", in: "path", required: true, schema: { type: "string", uniqueItems: true } }],
  };
  const list: KObj = {
    get: op(rt, "list", [
      param("labelSelector"),
      param("fieldSelector"),
      param("limit", "integer"),
      param("continue"),
    ]),
    post: op(rt, "post", write, ref(schemaName(rt))),
  };
  const out: KObj = { [coll]: list, [`${coll}/{name}`]: item };
  if (rt.statusSubresource) {
    out[`${coll}/{name}/status`] = { get: op(rt, "get", []), put: item.put, patch: item.patch };
  }
  return out;
}

export function groupVersionDoc(reg: Registry, group: string, version: string): KObj | undefined {
  const types = reg.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const schemas: KObj = {
    [META]: META_SCHEMA,
    [LIST_META]: {
      type: "object",
      description: "ListMeta describes metadata that synthetic resources must have.",
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch": {
      type: "object",
      description: "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
    },
  };
  let allPaths: KObj = {};
  for (const rt of types) {
    schemas[schemaName(rt)] = kindSchema(rt);
    schemas[schemaName(rt, true)] = {
      type: "object",
      required: ["items"],
      properties: {
        apiVersion: { type: "string" },
        kind: { type: "string" },
        metadata: { allOf: [{ $ref: `#/components/schemas/${LIST_META}` }] },
        items: { type: "array", items: { $ref: `#/components/schemas/${schemaName(rt)}` } },
      },
      "x-kubernetes-group-version-kind": [{ group: rt.group, kind: `${rt.kind}List`, version: rt.version }],
    };
    allPaths = { ...allPaths, ...paths(rt) };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.32.0" },
    paths: allPaths,
    components: { schemas },
  };
}

export function rootDoc(reg: Registry): KObj {
  const out: KObj = {};
  for (const g of reg.groupVersions()) {
    for (const v of g.versions) {
      const p = g.group ? `apis/${g.group}/${v}` : `api/${v}`;
      const hash = createHash("sha512")
        .update(JSON.stringify(groupVersionDoc(reg, g.group, v)))
        .digest("hex")
        .toUpperCase();
      out[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
    }
  }
  return { paths: out };
}
