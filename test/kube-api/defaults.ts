/**
 * Server-side defaulting of the built-in kinds (the fields a real server adds
 * that kubectl and the product read back), and create-time status resets.
 */
import type { ResourceType } from "./registry.ts";
import type { KObj } from "./types.ts";

function setDefault(o: KObj, k: string, v: unknown): void {
  if (o[k] === undefined) o[k] = v;
}

function containerDefaults(c: KObj): void {
  setDefault(c, "terminationMessagePath", "/dev/termination-log");
  setDefault(c, "terminationMessagePolicy", "File");
  const image = String(c.image ?? "");
  const tagged = /:[^/]+$/.test(image.split("@")[0] ?? "") || image.includes("@");
  const latest = !tagged || image.endsWith(":latest");
  setDefault(c, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
  setDefault(c, "resources", {});
  for (const p of c.ports ?? []) setDefault(p, "protocol", "TCP");
}

export function podSpecDefaults(spec: KObj | undefined): void {
  if (!spec) return;
  for (const c of spec.containers ?? []) containerDefaults(c);
  for (const c of spec.initContainers ?? []) containerDefaults(c);
  setDefault(spec, "restartPolicy", "Always");
  setDefault(spec, "terminationGracePeriodSeconds", 30);
  setDefault(spec, "dnsPolicy", "ClusterFirst");
  setDefault(spec, "securityContext", {});
  setDefault(spec, "schedulerName", "default-scheduler");
}

function qosClass(spec: KObj | undefined): string {
  const cs: KObj[] = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  const any = cs.some(
    (c) => Object.keys(c.resources?.requests ?? {}).length || Object.keys(c.resources?.limits ?? {}).length,
  );
  if (!any) return "BestEffort";
  const guaranteed = cs.every((c) => {
    const l = c.resources?.limits ?? {};
    const r = c.resources?.requests ?? l;
    return ["cpu", "memory"].every((k) => l[k] !== undefined && String(r[k]) === String(l[k]));
  });
  return guaranteed ? "Guaranteed" : "Burstable";
}

/** Defaults applied on every write (create and update) of a built-in kind. */
export function applyDefaults(rt: ResourceType, obj: KObj): void {
  switch (`${rt.group}/${rt.plural}`) {
    case "/pods":
      obj.spec ??= {};
      podSpecDefaults(obj.spec);
      setDefault(obj.spec, "serviceAccountName", "default");
      setDefault(obj.spec, "enableServiceLinks", true);
      setDefault(obj.spec, "priority", 0);
      setDefault(obj.spec, "preemptionPolicy", "PreemptLowerPriority");
      break;
    case "/namespaces":
      obj.metadata.labels = { ...obj.metadata.labels, "kubernetes.io/metadata.name": obj.metadata.name };
      obj.spec = { finalizers: ["kubernetes"], ...obj.spec };
      break;
    case "apps/deployments":
      obj.spec ??= {};
      setDefault(obj.spec, "replicas", 1);
      setDefault(obj.spec, "revisionHistoryLimit", 10);
      setDefault(obj.spec, "progressDeadlineSeconds", 600);
      setDefault(obj.spec, "strategy", {
        type: "RollingUpdate",
        rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" },
      });
      podSpecDefaults(obj.spec.template?.spec);
      break;
    case "apps/replicasets":
    case "apps/statefulsets":
    case "apps/daemonsets":
      obj.spec ??= {};
      if (rt.plural !== "daemonsets") setDefault(obj.spec, "replicas", 1);
      podSpecDefaults(obj.spec.template?.spec);
      break;
    case "batch/jobs":
      obj.spec ??= {};
      setDefault(obj.spec, "backoffLimit", 6);
      setDefault(obj.spec, "completions", 1);
      setDefault(obj.spec, "parallelism", 1);
      setDefault(obj.spec, "completionMode", "NonIndexed");
      setDefault(obj.spec, "suspend", false);
      podSpecDefaults(obj.spec.template?.spec);
      break;
    case "batch/cronjobs":
      obj.spec ??= {};
      setDefault(obj.spec, "concurrencyPolicy", "Allow");
      setDefault(obj.spec, "suspend", false);
      setDefault(obj.spec, "successfulJobsHistoryLimit", 3);
      setDefault(obj.spec, "failedJobsHistoryLimit", 1);
      podSpecDefaults(obj.spec.jobTemplate?.spec?.template?.spec);
      break;
  }
}

/** The status a create starts with: clients cannot set status on create. */
export function initialStatus(rt: ResourceType, obj: KObj): unknown {
  switch (`${rt.group}/${rt.plural}`) {
    case "/pods":
      return { phase: "Pending", qosClass: qosClass(obj.spec) };
    case "/namespaces":
      return { phase: "Active" };
    case "apiextensions.k8s.io/customresourcedefinitions":
      return undefined;
    default:
      return rt.crd ? undefined : {};
  }
}
