/**
 * Resource types the server serves: the built-in ones kernel-gossip touches and
 * those added by CustomResourceDefinitions. Discovery documents are built from here.
 */
import type { Json } from "./types.ts";

export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  statusSubresource: boolean;
  /** metadata.generation is kept and bumped on spec changes. */
  generation: boolean;
  /** field labels usable in fieldSelector besides metadata.name/namespace. */
  fieldLabels: string[];
  /** storage shared with another resource (events.k8s.io/v1 events are core/v1 events) */
  storage?: string;
  /** set for custom resources */
  crd?: {
    name: string;
    schema: Json | undefined;
    printerColumns: PrinterColumn[];
  };
}

const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function builtin(
  group: string,
  version: string,
  plural: string,
  kind: string,
  opts: Partial<ResourceType> = {},
): ResourceType {
  return {
    group,
    version,
    plural,
    kind,
    singular: kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    categories: [],
    verbs: ALL_VERBS,
    statusSubresource: false,
    generation: false,
    fieldLabels: [],
    ...opts,
  };
}

const WORKLOAD = { statusSubresource: true, generation: true, categories: ["all"] };

export function builtinTypes(): ResourceType[] {
  return [
    builtin("", "v1", "namespaces", "Namespace", {
      namespaced: false,
      shortNames: ["ns"],
      statusSubresource: true,
      verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
      fieldLabels: ["status.phase"],
    }),
    builtin("", "v1", "pods", "Pod", {
      shortNames: ["po"],
      categories: ["all"],
      statusSubresource: true,
      fieldLabels: [
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
      ],
    }),
    builtin("", "v1", "events", "Event", {
      shortNames: ["ev"],
      fieldLabels: [
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
      ],
    }),
    builtin("", "v1", "configmaps", "ConfigMap", { shortNames: ["cm"] }),
    builtin("apps", "v1", "deployments", "Deployment", { ...WORKLOAD, shortNames: ["deploy"] }),
    builtin("apps", "v1", "replicasets", "ReplicaSet", { ...WORKLOAD, shortNames: ["rs"] }),
    builtin("apps", "v1", "statefulsets", "StatefulSet", { ...WORKLOAD, shortNames: ["sts"] }),
    builtin("apps", "v1", "daemonsets", "DaemonSet", { ...WORKLOAD, shortNames: ["ds"] }),
    builtin("batch", "v1", "jobs", "Job", { ...WORKLOAD, fieldLabels: ["status.successful"] }),
    builtin("batch", "v1", "cronjobs", "CronJob", { ...WORKLOAD, shortNames: ["cj"] }),
    builtin("coordination.k8s.io", "v1", "leases", "Lease"),
    builtin("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", {
      ...WORKLOAD,
      shortNames: ["hpa"],
    }),
    builtin("events.k8s.io", "v1", "events", "Event", { shortNames: ["ev"], storage: "/events" }),
    builtin("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", {
      namespaced: false,
      verbs: ["create"],
    }),
    builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", {
      namespaced: false,
      shortNames: ["crd", "crds"],
      categories: ["api-extensions"],
      statusSubresource: true,
      generation: true,
    }),
  ];
}

/** Preferred versions of the built-in groups, in the order a real server lists them. */
export class Registry {
  private types: ResourceType[] = builtinTypes();

  all(): ResourceType[] {
    return this.types;
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.version === version && t.plural === plural);
  }

  /** Any served version of group/plural (objects are stored per group/resource). */
  anyVersion(group: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.plural === plural);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.types.find(
      (t) => (t.group ? `${t.group}/${t.version}` : t.version) === apiVersion && t.kind === kind,
    );
  }

  groupVersions(): { group: string; versions: string[] }[] {
    const out: { group: string; versions: string[] }[] = [];
    for (const t of this.types) {
      let g = out.find((x) => x.group === t.group);
      if (!g) {
        g = { group: t.group, versions: [] };
        out.push(g);
      }
      if (!g.versions.includes(t.version)) g.versions.push(t.version);
    }
    return out;
  }

  add(types: ResourceType[]): void {
    for (const t of types) {
      this.types = this.types.filter(
        (x) => !(x.group === t.group && x.version === t.version && x.plural === t.plural),
      );
      this.types.push(t);
    }
  }

  removeCrd(crdName: string): ResourceType[] {
    const gone = this.types.filter((t) => t.crd?.name === crdName);
    this.types = this.types.filter((t) => t.crd?.name !== crdName);
    return gone;
  }
}

export function storageKey(rt: { group: string; plural: string; storage?: string }): string {
  return rt.storage ?? `${rt.group}/${rt.plural}`;
}
