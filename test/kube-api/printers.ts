/**
 * Server-side printing of the built-in kinds: the same columns and cells as
 * kubernetes/pkg/printers/internalversion (what `kubectl get` shows).
 */
import { age, humanDuration } from "./age.ts";
import { jobStatus, podStatus } from "./pod-status.ts";
import type { Json, KObj } from "./types.ts";

export interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
}

export interface Printer {
  columns: Column[];
  cells(obj: KObj, now: number): unknown[];
}

const col = (name: string, type = "string", priority = 0, format?: string): Column => {
  const c: Column = { name, type, description: `${name} of the object`, priority };
  if (format) c.format = format;
  return c;
};
const NAME = col("Name", "string", 0, "name");
NAME.description =
  "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE = col("Age");
AGE.description =
  "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

const none = (v: unknown): string => (v === undefined || v === null || v === "" ? "<none>" : String(v));
const int = (v: unknown): number => (typeof v === "number" ? v : 0);

function formatSelector(sel: Json): string {
  if (!sel) return "<none>";
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const op = String(e.operator).toLowerCase();
    if (op === "exists") parts.push(e.key);
    else if (op === "doesnotexist") parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${op} (${(e.values ?? []).join(",")})`);
  }
  return parts.length ? parts.join(",") : "<none>";
}

function podTemplateCells(spec: Json): [string, string] {
  const cs: Json[] = spec?.containers ?? [];
  return [cs.map((c) => c.name).join(","), cs.map((c) => c.image).join(",")];
}

const WIDE_TEMPLATE = [
  col("Containers", "string", 1),
  col("Images", "string", 1),
  col("Selector", "string", 1),
];

export const PRINTERS: Record<string, Printer> = {
  "/pods": {
    columns: [
      NAME,
      col("Ready"),
      col("Status"),
      col("Restarts"),
      AGE,
      col("IP", "string", 1),
      col("Node", "string", 1),
      col("Nominated Node", "string", 1),
      col("Readiness Gates", "string", 1),
    ],
    cells(p, now) {
      const s = podStatus(p, now);
      const gates: Json[] = p.spec?.readinessGates ?? [];
      const gateText = gates.length
        ? `${gates.filter((g) => (p.status?.conditions ?? []).some((c: Json) => c.type === g.conditionType && c.status === "True")).length}/${gates.length}`
        : "<none>";
      return [
        p.metadata.name,
        s.ready,
        s.reason,
        s.restarts,
        age(p.metadata.creationTimestamp, now),
        none(p.status?.podIP),
        none(p.spec?.nodeName),
        none(p.status?.nominatedNodeName),
        gateText,
      ];
    },
  },
  "/namespaces": {
    columns: [NAME, col("Status"), AGE],
    cells: (o, now) => [o.metadata.name, o.status?.phase ?? "", age(o.metadata.creationTimestamp, now)],
  },
  "/configmaps": {
    columns: [NAME, col("Data", "integer"), AGE],
    cells: (o, now) => [
      o.metadata.name,
      Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length,
      age(o.metadata.creationTimestamp, now),
    ],
  },
  "/events": {
    columns: [
      col("Last Seen"),
      col("Type"),
      col("Reason"),
      col("Object"),
      col("Subobject", "string", 1),
      col("Source", "string", 1),
      col("Message"),
      col("First Seen", "string", 1),
      col("Count", "string", 1),
      col("Name", "string", 1, "name"),
    ],
    cells(e, now) {
      const last = e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime;
      const first = e.firstTimestamp ?? e.eventTime;
      const src = e.source?.component
        ? [e.source.component, e.source.host].filter(Boolean).join(", ")
        : [e.reportingComponent, e.reportingInstance].filter(Boolean).join(", ");
      const obj = e.involvedObject ?? {};
      return [
        last ? age(last, now) : "<unknown>",
        e.type ?? "",
        e.reason ?? "",
        `${String(obj.kind ?? "").toLowerCase()}/${obj.name ?? ""}`,
        obj.fieldPath ?? "",
        src,
        String(e.message ?? "").trim(),
        first ? age(first, now) : "<unknown>",
        String(e.series?.count ?? e.count ?? 1),
        e.metadata.name,
      ];
    },
  },
  "coordination.k8s.io/leases": {
    columns: [NAME, col("Holder"), AGE],
    cells: (o, now) => [
      o.metadata.name,
      o.spec?.holderIdentity ?? "",
      age(o.metadata.creationTimestamp, now),
    ],
  },
  "apps/deployments": {
    columns: [
      NAME,
      col("Ready"),
      col("Up-to-date", "integer"),
      col("Available", "integer"),
      AGE,
      ...WIDE_TEMPLATE,
    ],
    cells: (o, now) => [
      o.metadata.name,
      `${int(o.status?.readyReplicas)}/${int(o.spec?.replicas)}`,
      int(o.status?.updatedReplicas),
      int(o.status?.availableReplicas),
      age(o.metadata.creationTimestamp, now),
      ...podTemplateCells(o.spec?.template?.spec),
      formatSelector(o.spec?.selector),
    ],
  },
  "apps/replicasets": {
    columns: [
      NAME,
      col("Desired", "integer"),
      col("Current", "integer"),
      col("Ready", "integer"),
      AGE,
      ...WIDE_TEMPLATE,
    ],
    cells: (o, now) => [
      o.metadata.name,
      int(o.spec?.replicas),
      int(o.status?.replicas),
      int(o.status?.readyReplicas),
      age(o.metadata.creationTimestamp, now),
      ...podTemplateCells(o.spec?.template?.spec),
      formatSelector(o.spec?.selector),
    ],
  },
  "apps/statefulsets": {
    columns: [NAME, col("Ready"), AGE, col("Containers", "string", 1), col("Images", "string", 1)],
    cells: (o, now) => [
      o.metadata.name,
      `${int(o.status?.readyReplicas)}/${int(o.spec?.replicas)}`,
      age(o.metadata.creationTimestamp, now),
      ...podTemplateCells(o.spec?.template?.spec),
    ],
  },
  "apps/daemonsets": {
    columns: [
      NAME,
      col("Desired", "integer"),
      col("Current", "integer"),
      col("Ready", "integer"),
      col("Up-to-date", "integer"),
      col("Available", "integer"),
      col("Node Selector"),
      AGE,
      ...WIDE_TEMPLATE,
    ],
    cells: (o, now) => {
      const s = o.status ?? {};
      const ns = Object.entries(o.spec?.template?.spec?.nodeSelector ?? {}).map(([k, v]) => `${k}=${v}`);
      return [
        o.metadata.name,
        int(s.desiredNumberScheduled),
        int(s.currentNumberScheduled),
        int(s.numberReady),
        int(s.updatedNumberScheduled),
        int(s.numberAvailable),
        ns.length ? ns.join(",") : "<none>",
        age(o.metadata.creationTimestamp, now),
        ...podTemplateCells(o.spec?.template?.spec),
        formatSelector(o.spec?.selector),
      ];
    },
  },
  "batch/jobs": {
    columns: [NAME, col("Status"), col("Completions"), col("Duration"), AGE, ...WIDE_TEMPLATE],
    cells: (o, now) => {
      const start = Date.parse(o.status?.startTime ?? "");
      const end = Date.parse(o.status?.completionTime ?? "");
      const dur = Number.isNaN(start) ? "" : humanDuration((Number.isNaN(end) ? now : end) - start);
      const completions =
        o.spec?.completions === undefined
          ? `${int(o.status?.succeeded)}/1 of ${int(o.spec?.parallelism)}`
          : `${int(o.status?.succeeded)}/${o.spec.completions}`;
      return [
        o.metadata.name,
        jobStatus(o),
        completions,
        dur,
        age(o.metadata.creationTimestamp, now),
        ...podTemplateCells(o.spec?.template?.spec),
        formatSelector(o.spec?.selector),
      ];
    },
  },
  "batch/cronjobs": {
    columns: [
      NAME,
      col("Schedule"),
      col("Timezone"),
      col("Suspend", "boolean"),
      col("Active", "integer"),
      col("Last Schedule"),
      AGE,
      ...WIDE_TEMPLATE,
    ],
    cells: (o, now) => [
      o.metadata.name,
      o.spec?.schedule ?? "",
      none(o.spec?.timeZone),
      o.spec?.suspend ? "True" : "False",
      (o.status?.active ?? []).length,
      o.status?.lastScheduleTime ? age(o.status.lastScheduleTime, now) : "<none>",
      age(o.metadata.creationTimestamp, now),
      ...podTemplateCells(o.spec?.jobTemplate?.spec?.template?.spec),
      formatSelector(o.spec?.jobTemplate?.spec?.selector),
    ],
  },
  "autoscaling/horizontalpodautoscalers": {
    columns: [
      NAME,
      col("Reference"),
      col("Targets"),
      col("MinPods"),
      col("MaxPods", "integer"),
      col("Replicas", "integer"),
      AGE,
    ],
    cells: (o, now) => {
      const ref = o.spec?.scaleTargetRef ?? {};
      const targets = (o.spec?.metrics ?? []).map((m: Json) => {
        const r = m.resource;
        if (!r) return "<unknown>";
        const cur = (o.status?.currentMetrics ?? []).find((c: Json) => c.resource?.name === r.name)?.resource
          ?.current;
        const want =
          r.target?.averageUtilization !== undefined
            ? `${r.target.averageUtilization}%`
            : String(r.target?.averageValue ?? r.target?.value ?? "");
        const have = cur?.averageUtilization !== undefined ? `${cur.averageUtilization}%` : "<unknown>";
        return `${r.name}: ${have}/${want}`;
      });
      return [
        o.metadata.name,
        `${ref.kind}/${ref.name}`,
        targets.length ? targets.join(", ") : "<none>",
        String(o.spec?.minReplicas ?? 1),
        int(o.spec?.maxReplicas),
        int(o.status?.currentReplicas),
        age(o.metadata.creationTimestamp, now),
      ];
    },
  },
};

/** rest.DefaultTableConvertor: NAME and CREATED AT (RFC 3339), e.g. for CRDs. */
export const DEFAULT_PRINTER: Printer = {
  columns: [NAME, { name: "Created At", type: "date", description: AGE.description, priority: 0 }],
  cells: (o) => [o.metadata.name, o.metadata.creationTimestamp],
};
