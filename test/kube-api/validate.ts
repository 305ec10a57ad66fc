/**
 * Validation of object metadata and of the built-in kinds kernel-gossip
 * writes, with kube-apiserver's field paths and wording.
 */
import type { ResourceType } from "./registry.ts";
import type { FieldError } from "./status.ts";
import { deepEqual, type KObj } from "./types.ts";

const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const SUBDOMAIN = `${LABEL}(\\.${LABEL})*`;
const LABEL_RE = new RegExp(`^${LABEL}$`);
const SUBDOMAIN_RE = new RegExp(`^${SUBDOMAIN}$`);
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QNAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function invalidValue(field: string, value: unknown, detail: string): FieldError {
  return { type: "Invalid", field, body: `Invalid value: ${fmtValue(value)}: ${detail}` };
}

export function required(field: string): FieldError {
  return { type: "Required", field, body: "Required value" };
}

/** How field.Error prints a bad value: strings quoted, numbers bare. */
export function fmtValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined) return "null";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function dnsLabel(field: string, v: string): FieldError[] {
  const errs: FieldError[] = [];
  if (v.length > 63) errs.push(invalidValue(field, v, "must be no more than 63 characters"));
  if (!LABEL_RE.test(v)) errs.push(invalidValue(field, v, LABEL_MSG));
  return errs;
}

export function dnsSubdomain(field: string, v: string): FieldError[] {
  const errs: FieldError[] = [];
  if (v.length > 253) errs.push(invalidValue(field, v, "must be no more than 253 characters"));
  if (!SUBDOMAIN_RE.test(v)) errs.push(invalidValue(field, v, SUBDOMAIN_MSG));
  return errs;
}

function qualifiedName(field: string, key: string): FieldError[] {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : "";
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const errs: FieldError[] = [];
  if (slash >= 0 && (!prefix || !SUBDOMAIN_RE.test(prefix) || prefix.length > 253)) {
    errs.push(invalidValue(field, key, "prefix part must be a lowercase RFC 1123 subdomain"));
  }
  if (!QNAME_RE.test(name) || name.length > 63) {
    errs.push(
      invalidValue(
        field,
        key,
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
      ),
    );
  }
  return errs;
}

const NAME_IS_LABEL = new Set(["/namespaces"]);

export function validateMeta(rt: ResourceType, obj: KObj): FieldError[] {
  const md = obj.metadata ?? {};
  const errs: FieldError[] = [];
  const name: unknown = md.name;
  if (typeof name !== "string" || name === "") {
    errs.push({
      type: "Required",
      field: "metadata.name",
      body: "Required value: name or generateName is required",
    });
  } else if (NAME_IS_LABEL.has(`${rt.group}/${rt.plural}`)) {
    errs.push(...dnsLabel("metadata.name", name));
  } else if (rt.group !== "apiextensions.k8s.io" && rt.plural !== "events") {
    errs.push(...dnsSubdomain("metadata.name", name));
  }
  for (const [k, v] of Object.entries(md.labels ?? {})) {
    errs.push(...qualifiedName("metadata.labels", k));
    if (typeof v !== "string" || v.length > 63 || !LABEL_VALUE_RE.test(v)) {
      errs.push(
        invalidValue(
          "metadata.labels",
          v,
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
      );
    }
  }
  for (const k of Object.keys(md.annotations ?? {})) errs.push(...qualifiedName("metadata.annotations", k));
  return errs;
}

function containers(list: unknown, path: string, requiredList: boolean): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(list) || list.length === 0) {
    if (requiredList) errs.push(required(path));
    return errs;
  }
  const seen = new Set<string>();
  list.forEach((c: KObj, i) => {
    const p = `${path}[${i}]`;
    if (!c?.name) errs.push(required(`${p}.name`));
    else {
      errs.push(...dnsLabel(`${p}.name`, c.name));
      if (seen.has(c.name))
        errs.push({ type: "Duplicate", field: `${p}.name`, body: `Duplicate value: "${c.name}"` });
      seen.add(c.name);
    }
    if (!c?.image) errs.push(required(`${p}.image`));
  });
  return errs;
}

function podSpec(spec: KObj | undefined, path: string): FieldError[] {
  const errs = containers(spec?.containers, `${path}.containers`, true);
  errs.push(...containers(spec?.initContainers, `${path}.initContainers`, false));
  const rp = spec?.restartPolicy;
  if (rp !== undefined && !["Always", "OnFailure", "Never"].includes(rp)) {
    errs.push({
      type: "NotSupported",
      field: `${path}.restartPolicy`,
      body: `Unsupported value: ${fmtValue(rp)}: supported values: "Always", "OnFailure", "Never"`,
    });
  }
  return errs;
}

function selectorMatchesTemplate(obj: KObj): FieldError[] {
  const sel = obj.spec?.selector;
  if (!sel) return [required("spec.selector")];
  const labels = obj.spec?.template?.metadata?.labels ?? {};
  const ok = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return ok
    ? []
    : [invalidValue("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")];
}

/** Required fields of the built-in kinds (a subset of the real validation). */
export function validateBuiltin(rt: ResourceType, obj: KObj, old: KObj | undefined): FieldError[] {
  switch (`${rt.group}/${rt.plural}`) {
    case "/pods": {
      const errs = podSpec(obj.spec, "spec");
      if (old && !podSpecUpdateAllowed(old.spec, obj.spec)) {
        errs.push({
          type: "Forbidden",
          field: "spec",
          body: "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        });
      }
      return errs;
    }
    case "apps/deployments":
    case "apps/replicasets":
    case "apps/statefulsets":
    case "apps/daemonsets":
      return [...selectorMatchesTemplate(obj), ...podSpec(obj.spec?.template?.spec, "spec.template.spec")];
    case "batch/jobs":
      return podSpec(obj.spec?.template?.spec, "spec.template.spec");
    case "batch/cronjobs": {
      const errs = podSpec(
        obj.spec?.jobTemplate?.spec?.template?.spec,
        "spec.jobTemplate.spec.template.spec",
      );
      if (!obj.spec?.schedule) errs.unshift(required("spec.schedule"));
      return errs;
    }
    case "autoscaling/horizontalpodautoscalers": {
      const errs: FieldError[] = [];
      const ref = obj.spec?.scaleTargetRef;
      if (!ref?.kind) errs.push(required("spec.scaleTargetRef.kind"));
      if (!ref?.name) errs.push(required("spec.scaleTargetRef.name"));
      if (!obj.spec?.maxReplicas) errs.push(required("spec.maxReplicas"));
      return errs;
    }
    case "/events":
      return validateEvent(obj);
    case "/configmaps":
      return configMapSize(obj);
    case "coordination.k8s.io/leases": {
      const d = obj.spec?.leaseDurationSeconds;
      return d !== undefined && d <= 0
        ? [invalidValue("spec.leaseDurationSeconds", d, "must be greater than 0")]
        : [];
    }
    default:
      return [];
  }
}

/** ConfigMaps (and Secrets) hold at most 1 MiB: the values of data and binaryData together. */
export const CONFIGMAP_MAX_BYTES = 1_048_576;

/** ValidateConfigMap's size check, as kube-apiserver 1.32 words it (422, field "[]"). */
function configMapSize(cm: KObj): FieldError[] {
  let total = 0;
  for (const v of Object.values((cm.data ?? {}) as Record<string, unknown>)) {
    total += Buffer.byteLength(String(v));
  }
  for (const v of Object.values((cm.binaryData ?? {}) as Record<string, unknown>)) {
    total += Buffer.from(String(v), "base64").length;
  }
  return total > CONFIGMAP_MAX_BYTES
    ? [{ type: "TooLong", field: "[]", body: `Too long: may not be more than ${CONFIGMAP_MAX_BYTES} bytes` }]
    : [];
}

/** legacyValidateEvent: core/v1 Events, new-style (eventTime) ones need their reporter. */
function validateEvent(e: KObj): FieldError[] {
  const errs: FieldError[] = [];
  const ns = e.metadata?.namespace ?? "";
  const objNs = e.involvedObject?.namespace ?? "";
  const mismatch = invalidValue("involvedObject.namespace", objNs, "does not match event.namespace");
  if (!e.eventTime) {
    if (objNs ? objNs !== ns : ns !== "" && ns !== "default") errs.push(mismatch);
    return errs;
  }
  if (!objNs && ns !== "default" && ns !== "kube-system") errs.push(mismatch);
  if (!e.reportingComponent) errs.push(required("reportingComponent"));
  if (!e.reportingInstance) errs.push(required("reportingInstance"));
  if (!e.action) errs.push(required("action"));
  if (!e.reason) errs.push(required("reason"));
  return errs;
}

function podSpecUpdateAllowed(a: KObj | undefined, b: KObj | undefined): boolean {
  const strip = (s: KObj | undefined): KObj => {
    const c = structuredClone(s ?? {});
    for (const k of ["containers", "initContainers"]) {
      for (const x of c[k] ?? []) delete x.image;
    }
    delete c.activeDeadlineSeconds;
    delete c.tolerations;
    delete c.terminationGracePeriodSeconds;
    return c;
  };
  return deepEqual(strip(a), strip(b));
}
