// What `make demo` promises, as data: every KernelWhisper and every PodBirthCertificate it
// must find in the cluster, with the fields that make each one right. The demo prints its
// verdict from checking these against what kubectl returns, never a fixed sentence. A new
// signal in the demo is one more entry in EXPECTED_WHISPERS.
import type { DemoPod, Role } from "./workloads.ts";

// biome-ignore lint/suspicious/noExplicitAny: objects as kubectl returns them (JSON)
type Json = any;

export interface Expectation {
  /** kind namespace/name-or-what, for the verdict line */
  what: string;
  /** The one object this expectation is about, among those listed. */
  find(items: Json[]): Json | undefined;
  /** Fields that must hold; each failing one as "field: want X, got Y". */
  check(item: Json): string[];
  /** The key fields as found, for the verdict line. */
  describe(item: Json): string;
}

const want = (field: string, expected: unknown, got: unknown): string[] =>
  expected === got ? [] : [`${field}: want ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`];

interface WhisperSpec {
  namespace: string;
  signal: string;
  workload: string;
  container: string;
  severity: string;
  project?: string;
  /** Further checks on status (evidence). */
  extra?: (item: Json) => string[];
}

/** The whispers the demo's pods must produce; the healthy pod must produce none. */
export const EXPECTED_WHISPERS: readonly WhisperSpec[] = [
  {
    namespace: "shop",
    signal: "CrashLoopBackOff",
    workload: "cart",
    container: "api",
    severity: "critical",
    project: "webshop",
    extra: (w) => want("evidence.termination.exitCode", 1, w.status?.evidence?.termination?.exitCode),
  },
  {
    namespace: "reports",
    signal: "OOMKilled",
    workload: "nightly-report",
    container: "worker",
    severity: "critical",
    extra: (w) => want("evidence.oom.source", "kubelet", w.status?.evidence?.oom?.source),
  },
  {
    namespace: "shop",
    signal: "CPUThrottling",
    workload: "checkout",
    container: "app",
    severity: "critical",
    project: "webshop",
    extra: (w) => want("throttledPercent", 90, w.status?.throttledPercent),
  },
  {
    namespace: "shop",
    signal: "OOMKilled",
    workload: "search",
    container: "indexer",
    severity: "warning",
    project: "webshop",
    extra: (w) => [
      ...want("evidence.oom.source", "kernel", w.status?.evidence?.oom?.source),
      ...want("evidence.oom.mainProcessSurvived", true, w.status?.evidence?.oom?.mainProcessSurvived),
      // The kill was warned of: the OOMKilled whisper names the MemoryPressure one.
      ...want(
        "evidence.oom.precededBy.whisper",
        "statefulset-search.indexer.memory-pressure",
        w.status?.evidence?.oom?.precededBy?.whisper,
      ),
    ],
  },
  {
    namespace: "shop",
    signal: "MemoryPressure",
    workload: "search",
    container: "indexer",
    severity: "critical",
    project: "webshop",
    extra: (w) => [
      ...want("evidence.memory.limitBytes", 512 * 2 ** 20, w.status?.evidence?.memory?.limitBytes),
      ...want("evidence.memory.workingSetBytes", 495 * 2 ** 20, w.status?.evidence?.memory?.workingSetBytes),
      ...want("memory", "97%/512Mi", w.status?.memory),
      ...want("recommendation.memoryLimit", "595Mi", w.status?.recommendation?.memoryLimit),
    ],
  },
];

export function whisperExpectations(specs: readonly WhisperSpec[] = EXPECTED_WHISPERS): Expectation[] {
  return specs.map((s) => ({
    what: `KernelWhisper ${s.namespace} ${s.signal} ${s.workload}/${s.container}`,
    find: (items) =>
      items.find(
        (w) =>
          w.metadata?.namespace === s.namespace &&
          w.spec?.signal === s.signal &&
          w.spec?.workload?.name === s.workload &&
          w.spec?.container === s.container,
      ),
    check: (w) => [
      ...want("severity", s.severity, w.status?.severity),
      ...want("node", "demo-node", w.status?.node),
      ...(s.project ? want("project", s.project, w.spec?.project) : []),
      ...((w.status?.count ?? 0) >= 1 ? [] : [`count: want at least 1, got ${w.status?.count}`]),
      ...(s.extra?.(w) ?? []),
    ],
    describe: (w) =>
      `${w.metadata?.namespace}/${w.metadata?.name}: severity ${w.status?.severity}, count ${w.status?.count}, node ${w.status?.node}${w.spec?.project ? `, project ${w.spec.project}` : ""}`,
  }));
}

/** What each role's certificate must say. */
const BIRTH: Record<Role, { ready: boolean; failureReason: string }> = {
  healthy: { ready: true, failureReason: "" },
  throttled: { ready: true, failureReason: "" },
  "oom-killed": { ready: true, failureReason: "" },
  "kernel-oom": { ready: true, failureReason: "" },
  "crash-loop": { ready: false, failureReason: "CrashLoopBackOff" },
};

/** One certificate per demo pod: every pod is created after the agent listed the node. */
export function certificateExpectations(pods: readonly DemoPod[]): Expectation[] {
  return pods.map((p) => ({
    what: `PodBirthCertificate for ${p.namespace}/${p.name}`,
    find: (items) => items.find((c) => c.spec?.pod?.uid === p.uid),
    check: (c) => {
      const steps: Json[] = c.spec?.steps ?? [];
      const names = steps.map((s) => s.name);
      return [
        ...want("ready", BIRTH[p.role].ready, c.spec?.ready),
        ...want("failureReason", BIRTH[p.role].failureReason, c.spec?.failureReason ?? ""),
        ...want("pod.node", "demo-node", c.spec?.pod?.node),
        ...["created", "scheduled", "container-started", BIRTH[p.role].ready ? "ready" : "failed"].flatMap(
          (n) => (names.includes(n) ? [] : [`steps: no "${n}" step (got ${names.join(", ")})`]),
        ),
      ];
    },
    describe: (c) =>
      `${c.metadata?.name}: ready ${c.spec?.ready}, to ready ${c.spec?.duration}, slowest ${c.spec?.slowestPhase}, ${c.spec?.steps?.length ?? 0} steps`,
  }));
}

export interface Finding {
  expectation: Expectation;
  found: boolean;
  problems: string[];
  summary: string;
}

/** Each expectation against the listed objects. */
export function verify(expectations: readonly Expectation[], items: readonly Json[]): Finding[] {
  return expectations.map((e) => {
    const item = e.find([...items]);
    if (!item) return { expectation: e, found: false, problems: ["not found"], summary: "" };
    return { expectation: e, found: true, problems: e.check(item), summary: e.describe(item) };
  });
}

export const satisfied = (findings: readonly Finding[]): boolean =>
  findings.every((f) => f.problems.length === 0);
