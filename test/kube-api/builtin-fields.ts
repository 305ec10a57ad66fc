/**
 * The fields the built-in kinds know, where kernel-gossip and its tests write
 * them. kube-apiserver decodes built-ins into Go structs, so unknown fields are
 * dropped (with a warning) or, under fieldValidation=Strict (kubectl's
 * default), rejected. Objects and fields not listed here are kept as sent.
 */
import { isObj, type KObj } from "./types.ts";

type Known = { fields: string[]; children?: Record<string, Known>; items?: Record<string, Known> };

const CONTAINER: Known = {
  fields: words(
    "name image command args workingDir ports envFrom env resources resizePolicy restartPolicy " +
      "volumeMounts volumeDevices livenessProbe readinessProbe startupProbe lifecycle " +
      "terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext stdin " +
      "stdinOnce tty",
  ),
};

const POD_SPEC: Known = {
  fields: words(
    "volumes initContainers containers ephemeralContainers restartPolicy " +
      "terminationGracePeriodSeconds activeDeadlineSeconds dnsPolicy nodeSelector " +
      "serviceAccountName serviceAccount automountServiceAccountToken nodeName hostNetwork " +
      "hostPID hostIPC shareProcessNamespace securityContext imagePullSecrets hostname subdomain " +
      "affinity schedulerName tolerations hostAliases priorityClassName priority dnsConfig " +
      "readinessGates runtimeClassName enableServiceLinks preemptionPolicy overhead " +
      "topologySpreadConstraints setHostnameAsFQDN os hostUsers schedulingGates resourceClaims " +
      "resources",
  ),
  items: { containers: CONTAINER, initContainers: CONTAINER },
};

const POD_STATUS: Known = {
  fields: words(
    "phase conditions message reason nominatedNodeName hostIP hostIPs podIP podIPs startTime " +
      "initContainerStatuses containerStatuses qosClass ephemeralContainerStatuses resize " +
      "resourceClaimStatuses observedGeneration",
  ),
};

const TOP = ["apiVersion", "kind", "metadata"];
function words(s: string): string[] {
  return s.split(" ");
}

const KINDS: Record<string, Known> = {
  "/pods": { fields: [...TOP, ...words("spec status")], children: { spec: POD_SPEC, status: POD_STATUS } },
  "/configmaps": { fields: [...TOP, ...words("data binaryData immutable")] },
  "/namespaces": { fields: [...TOP, ...words("spec status")] },
  "/events": {
    fields: [
      ...TOP,
      ...words(
        "involvedObject reason message source firstTimestamp lastTimestamp count type eventTime " +
          "series action related reportingComponent reportingInstance",
      ),
    ],
  },
  "coordination.k8s.io/leases": {
    fields: [...TOP, ...words("spec")],
    children: {
      spec: {
        fields: words(
          "holderIdentity leaseDurationSeconds acquireTime renewTime leaseTransitions strategy " +
            "preferredHolder",
        ),
      },
    },
  },
};

function walk(obj: KObj, known: Known, path: string, dropped: string[]): void {
  for (const k of Object.keys(obj)) {
    const p = path ? `${path}.${k}` : k;
    if (!known.fields.includes(k)) {
      dropped.push(p);
      delete obj[k];
      continue;
    }
    const child = known.children?.[k];
    if (child && isObj(obj[k])) walk(obj[k], child, p, dropped);
    const item = known.items?.[k];
    if (item && Array.isArray(obj[k])) {
      obj[k].forEach((x: unknown, i: number) => {
        if (isObj(x)) walk(x, item, `${p}[${i}]`, dropped);
      });
    }
  }
}

/** Drop unknown fields of a built-in object; returns their paths. */
export function pruneBuiltin(key: string, obj: KObj): string[] {
  const known = KINDS[key];
  const dropped: string[] = [];
  if (known) walk(obj, known, "", dropped);
  return dropped;
}
