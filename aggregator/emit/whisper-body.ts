// How a KernelWhisper looks in the cluster: the two server-side-apply bodies rendered from
// its state in this replica — the spec (written once, when the object is created) and the
// status fields an operator reads (severity, counts, affected pods, evidence, recommendation,
// conditions, the printer columns). The delivery ledger, the episode record and the delta a
// write carries are the state's own business (whisper.ts).
import { formatMemory } from "../recommend/quantity.ts";
import type { Evidence, Recommendation } from "../types/index.ts";
import { labelValue } from "./names.ts";
import type { KObj } from "./types.ts";
import type { WhisperState } from "./whisper.ts";

export const GROUP = "kernel.gossip.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const WHISPER_PLURAL = "kernelwhispers";
export const MESSAGE_MAX = 1024;

export const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const truncate = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, max - 1)}…`;

export function specBody(w: WhisperState): KObj {
  const labels: Record<string, string> = {
    "app.kubernetes.io/managed-by": "kernel-gossip",
    "kernel.gossip.io/signal": w.identity.signal,
  };
  const workload = labelValue(w.identity.workload.name);
  if (workload) labels["kernel.gossip.io/workload"] = workload;
  return {
    apiVersion: API_VERSION,
    kind: w.kind,
    metadata: { name: w.name, namespace: w.namespace, labels },
    spec: {
      cluster: w.identity.cluster.slice(0, 253),
      project: w.identity.project.slice(0, 253),
      workload: {
        kind: w.identity.workload.kind.slice(0, 63),
        name: w.identity.workload.name.slice(0, 253),
      },
      container: w.identity.container.slice(0, 253),
      signal: w.identity.signal,
    },
  };
}

/** The status fields rendered from the whisper's state (all but its ledger and episode record). */
export function renderStatus(w: WhisperState): KObj {
  const rec = w.recommendation();
  const status: KObj = {
    severity: w.severity,
    count: w.count,
    firstSeen: iso(w.firstSeenMs ?? w.lastSeenMs),
    lastSeen: iso(w.lastSeenMs),
    node: w.node.slice(0, 253),
    affectedPods: w.pods.map((p) => ({
      name: p.name.slice(0, 253),
      uid: p.uid.slice(0, 64),
      node: p.node.slice(0, 253),
      lastSeen: iso(p.lastSeenMs),
      count: p.baseline + p.delta,
    })),
    evidence: renderEvidence(w.evidence),
    recommendation: { ...rec, summary: truncate(rec.summary, MESSAGE_MAX) },
    conditions: conditions(w, rec),
  };
  const t = w.evidence.throttling;
  if (w.identity.signal === "CPUThrottling" && t) {
    status.throttledPercent = Math.round(t.ratio * 100);
    status.throttled = `${status.throttledPercent}%`;
  } else {
    status.throttled = "-";
  }
  status.memory = memoryColumn(w.identity.signal, w.evidence);
  return status;
}

function conditions(w: WhisperState, rec: Recommendation): KObj[] {
  const at = iso(w.transitionMs || w.lastSeenMs);
  const signal = w.identity.signal;
  const message = truncate(
    w.active ? `${signal} seen ${w.count} times, last in ${w.pods[0]?.name ?? "?"}` : rec.summary,
    MESSAGE_MAX,
  );
  return [
    {
      type: "Active",
      status: w.active ? "True" : "False",
      reason: w.active ? signal : "EpisodeResolved",
      message,
      lastTransitionTime: at,
    },
    {
      type: "Resolved",
      status: w.active ? "False" : "True",
      reason: w.active ? signal : "EpisodeResolved",
      message,
      lastTransitionTime: at,
    },
  ];
}

/**
 * The Memory printer column, one word so the table stays readable: MemoryPressure's working set
 * against its limit ("97%/64Mi", "no-limit"); an OOM kill warned of in advance, the warning's
 * lead ("warned-42s"); else "-".
 */
function memoryColumn(signal: string, e: Evidence): string {
  const m = e.memory;
  if (signal === "MemoryPressure" && m) {
    return m.limitBytes > 0
      ? `${Math.round(m.workingSetRatio * 100)}%/${formatMemory(m.limitBytes)}`
      : "no-limit";
  }
  const w = e.oom?.precededBy;
  if (signal === "OOMKilled" && w) return `warned-${Math.round(w.leadSeconds)}s`.slice(0, 32);
  return "-";
}

function renderEvidence(e: Evidence): KObj {
  const out: KObj = {};
  if (e.throttling) out.throttling = { ...e.throttling };
  if (e.memory) {
    const { openedAtMs, ...m } = e.memory;
    out.memory = { ...m, ...(openedAtMs > 0 && { openedAt: iso(openedAtMs) }) };
  }
  if (e.oom) {
    const { precededBy, ...o } = e.oom;
    out.oom = { ...o };
    if (precededBy) {
      const { openedAtMs, resolvedAtMs, ...p } = precededBy;
      out.oom.precededBy = {
        ...p,
        openedAt: iso(openedAtMs),
        ...(resolvedAtMs > 0 && { resolvedAt: iso(resolvedAtMs) }),
      };
    }
  }
  if (e.termination) {
    const t = e.termination;
    out.termination = { ...t, message: truncate(t.message, MESSAGE_MAX) };
    if (t.meaning !== undefined) out.termination.meaning = truncate(t.meaning, 512);
  }
  return out;
}
