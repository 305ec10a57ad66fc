// Helpers for the deploy tests: render kustomizations with the real kubectl, validate
// every rendered object against the Kubernetes OpenAPI schemas shipped offline by
// kubernetes-models (and the Prometheus Operator's by @kubernetes-models/prometheus-operator),
// and find optional command-line tools.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  PodMonitor,
  PrometheusRule,
  ServiceMonitor,
} from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1";
import { DaemonSet, Deployment } from "kubernetes-models/apps/v1";
import { FlowSchema, PriorityLevelConfiguration } from "kubernetes-models/flowcontrol.apiserver.k8s.io/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { PriorityClass } from "kubernetes-models/scheduling.k8s.io/v1";
import { ConfigMap, Namespace, Service, ServiceAccount } from "kubernetes-models/v1";
import { parseAllDocuments } from "yaml";
import { unknownFields } from "./unknown-fields.ts";

export const ROOT = resolve(import.meta.dirname, "../..");

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** `kubectl kustomize <dir>` (relative to the repository, or absolute) parsed into objects. */
export function kustomize(dir: string): KubeObject[] {
  const out = execFileSync("kubectl", ["kustomize", resolve(ROOT, dir)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return parseAllDocuments(out)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: ${doc.errors[0]?.message}`);
      return doc.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null);
}

type Model = { apiVersion: string; kind: string };
const MODELS: readonly Model[] = [
  Namespace,
  ServiceAccount,
  ConfigMap,
  Service,
  DaemonSet,
  Deployment,
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
  NetworkPolicy,
  PodDisruptionBudget,
  PriorityClass,
  FlowSchema,
  PriorityLevelConfiguration,
  CustomResourceDefinition,
  PodMonitor,
  ServiceMonitor,
  PrometheusRule,
];
const BY_TYPE = new Map(MODELS.map((m) => [`${m.apiVersion}/${m.kind}`, m]));

/**
 * Schema violations of one object, as "Kind/name: path message" lines; [] when valid.
 * JSON-schema validation (kubernetes-models) plus unknown fields (client-node's models).
 */
export function schemaErrors(object: KubeObject): string[] {
  const id = `${object.kind}/${object.metadata?.name}`;
  const model = BY_TYPE.get(`${object.apiVersion}/${object.kind}`);
  if (!model) return [`${id}: no schema known for ${object.apiVersion} ${object.kind}`];
  const Ctor = model as unknown as new (data: unknown) => { validate(): void };
  try {
    new Ctor(object).validate();
    return unknownFields(object).map((e) => `${id}: ${e}`);
  } catch (err) {
    const errors = (err as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (!errors) return [`${id}: ${(err as Error).message}`];
    return errors.map((e) => `${id}: ${e.instancePath || "/"} ${e.message ?? ""}`);
  }
}

export function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`rendered manifests have no ${kind}/${name}`);
  return found;
}

/** Whether a command is on PATH (for tools from Debian packages the CI installs). */
export function hasTool(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/** The CRD manifests the aggregator engineer ships in crds/. */
export function crdFiles(): string[] {
  const dir = join(ROOT, "crds");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml");
}

/**
 * Why deploy/ (which includes ../crds) cannot render yet, or undefined when it can.
 * kustomize only includes a directory outside the kustomization root when it has its
 * own kustomization.yaml.
 */
