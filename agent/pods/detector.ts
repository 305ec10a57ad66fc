// Edge-triggered failure detection: compare the previous and the new PodFacts of one pod and
// return the failures that appeared in between. Pure: no clock, no memory, no I/O — the
// caller passes the time and remembers what it already reported (agent/pods/failures.ts).
//
// Each failure is an *occurrence* with a deterministic id `podUID/container/<index>/<reason>`:
//  - a termination (OOMKilled, Error) is identified by the container instance it ended; the
//    kubelet shows it first as `state.terminated` (index = restartCount), then — while the
//    container waits in back-off — as `lastState.terminated` with the same restartCount,
//    then, once restarted, as `lastState.terminated` with restartCount + 1. All three are
//    the same instance and get the same index (and compare equal by container id).
//  - a waiting reason (CrashLoopBackOff, ImagePullBackOff, CreateContainerConfigError) is
//    identified by the restart count it happened at: each new back-off is a new occurrence.
//  - Evicted is pod-level: `podUID//0/Evicted`.
//
// A pod seen for the first time (agent start, relist after a gap, pod coming into scope):
// a container waiting in a failure reason *now* is reported; a termination only when it
// finished within `recentMs` (the dedup cooldown) — older ones happened before we looked
// and were, or should have been, reported by whoever was looking then.
import { ContainerKind, type WireEvent } from "../../shared/proto.ts";
import type { ContainerFacts, PodFacts, TerminatedFacts } from "./facts.ts";

export interface DetectorSettings {
  /** Reasons reported besides CrashLoopBackOff and OOMKilled (EXTRA_REASONS). */
  extraReasons: ReadonlySet<string>;
  /** Wall-clock now, unix ms: the events' observedAtMs and the reference for `recentMs`. */
  nowMs: number;
  /** On a pod seen for the first time, terminations older than this are not reported. */
  recentMs: number;
}

/** One failure present in a pod's status. `key` compares occurrences across observations. */
export interface Occurrence {
  key: string;
  /** A termination, reportable on first sight only when recent; undefined for waiting reasons. */
  finishedAtMs: number | undefined;
  termination: boolean;
  /** The runtime's id of the instance a termination ended ("containerd://…"), when known. */
  containerId?: string;
  event: WireEvent;
}

const KIND = {
  regular: ContainerKind.CONTAINER_KIND_REGULAR,
  init: ContainerKind.CONTAINER_KIND_INIT,
  sidecar: ContainerKind.CONTAINER_KIND_SIDECAR,
} as const;

const WAITING_EXTRA = new Set(["ImagePullBackOff", "CreateContainerConfigError"]);

/** "back-off 40s restarting failed container=…", "Back-off 5m0s …" → seconds (0 when absent). */
export function parseBackoffSeconds(message: string): number {
  const match = /back-off ((?:\d+(?:\.\d+)?(?:h|m|s|ms))+)/i.exec(message);
  if (!match?.[1]) return 0;
  let seconds = 0;
  for (const [, n, unit] of match[1].matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) {
    const value = Number(n);
    seconds += unit === "h" ? value * 3600 : unit === "m" ? value * 60 : unit === "s" ? value : value / 1000;
  }
  return Math.round(seconds);
}

function termination(
  pod: PodFacts,
  c: ContainerFacts,
  t: TerminatedFacts,
  index: number,
  settings: DetectorSettings,
): Occurrence | undefined {
  let reason: string;
  if (t.reason === "OOMKilled") reason = "OOMKilled";
  // ContainerStatusUnknown (exit 137): the kubelet lost track of the container (pod deleted,
  // node restarted) — nothing the application did.
  else if (t.exitCode !== 0 && t.reason !== "ContainerStatusUnknown" && settings.extraReasons.has("Error"))
    reason = "Error";
  else return undefined;
  const id = `${pod.uid}/${c.name}/${index}/${reason}`;
  return {
    key: t.containerId ? `${pod.uid}/${c.name}/${t.containerId}/${reason}` : id,
    finishedAtMs: t.finishedAtMs,
    termination: true,
    containerId: t.containerId || undefined,
    event: event(pod, c, id, settings.nowMs, {
      reason,
      exitCode: t.exitCode,
      signal: t.signal,
      message: t.message,
      startedAtMs: t.startedAtMs ?? 0,
      finishedAtMs: t.finishedAtMs ?? 0,
      lastReason: reason === t.reason ? "" : t.reason,
    }),
  };
}

function event(
  pod: PodFacts,
  c: ContainerFacts | undefined,
  id: string,
  nowMs: number,
  fields: {
    reason: string;
    exitCode?: number;
    signal?: number;
    message: string;
    startedAtMs?: number;
    finishedAtMs?: number;
    lastReason?: string;
    backoffSeconds?: number;
  },
): WireEvent {
  return {
    id,
    pod: pod.ref,
    container: c?.name ?? "",
    observedAtMs: nowMs,
    count: 1,
    failure: {
      reason: fields.reason,
      exitCode: fields.exitCode ?? 0,
      signal: fields.signal ?? 0,
      message: fields.message,
      restartCount: c?.restartCount ?? 0,
      startedAtMs: fields.startedAtMs ?? 0,
      finishedAtMs: fields.finishedAtMs ?? 0,
      containerKind: c ? KIND[c.kind] : ContainerKind.CONTAINER_KIND_UNSPECIFIED,
      memoryLimitBytes: c?.memoryLimitBytes ?? 0,
      lastReason: fields.lastReason ?? "",
      backoffSeconds: fields.backoffSeconds ?? 0,
    },
  };
}

function containerOccurrences(pod: PodFacts, c: ContainerFacts, settings: DetectorSettings): Occurrence[] {
  const out: Occurrence[] = [];
  const rc = c.restartCount;
  const waiting = c.state.waiting;
  const last = c.lastState.terminated;
  if (
    waiting &&
    (waiting.reason === "CrashLoopBackOff" ||
      (WAITING_EXTRA.has(waiting.reason) && settings.extraReasons.has(waiting.reason)))
  ) {
    const id = `${pod.uid}/${c.name}/${rc}/${waiting.reason}`;
    out.push({
      key: id,
      finishedAtMs: undefined,
      termination: false,
      event: event(pod, c, id, settings.nowMs, {
        reason: waiting.reason,
        exitCode: last?.exitCode,
        signal: last?.signal,
        message: last?.message || waiting.message,
        startedAtMs: last?.startedAtMs,
        finishedAtMs: last?.finishedAtMs,
        lastReason: last?.reason,
        backoffSeconds: parseBackoffSeconds(waiting.message),
      }),
    });
  }
  const current = c.state.terminated;
  // A container stopped because its pod is deleted or evicted exits non-zero (SIGTERM,
  // SIGKILL): that is not a failure of its own. An OOM kill during shutdown still is.
  const deleting = pod.deletingSinceMs !== undefined || pod.reason === "Evicted";
  if (current) {
    const o = termination(pod, c, current, rc, settings);
    if (o && !(deleting && o.event.failure?.reason === "Error")) out.push(o);
  }
  if (last) {
    // Waiting in back-off: lastState is the instance restartCount counts; once a new instance
    // exists (running, created, or itself terminated) lastState is the one before it.
    const inBackoff = waiting !== undefined && /BackOff$/.test(waiting.reason);
    const o = termination(pod, c, last, inBackoff ? rc : Math.max(0, rc - 1), settings);
    if (o) out.push(o);
  }
  return out;
}

/** Every failure currently visible in the pod's status, reported or not. */
export function occurrences(pod: PodFacts, settings: DetectorSettings): Occurrence[] {
  const out = pod.containers.flatMap((c) => containerOccurrences(pod, c, settings));
  if (pod.reason === "Evicted" && settings.extraReasons.has("Evicted")) {
    const finished = pod.containers
      .map((c) => c.state.terminated?.finishedAtMs)
      .filter((t): t is number => t !== undefined);
    const id = `${pod.uid}//0/Evicted`;
    out.push({
      key: id,
      finishedAtMs: finished.length > 0 ? Math.max(...finished) : pod.conditions.readyAtMs,
      termination: true,
      event: event(pod, undefined, id, settings.nowMs, { reason: "Evicted", message: pod.message }),
    });
  }
  return out;
}

/**
 * Failures present in `next` that were not in `prev`, each an event ready for the dedup stage
 * with its occurrence key (for the reporter's memory).
 */
export function newOccurrences(
  prev: PodFacts | undefined,
  next: PodFacts,
  settings: DetectorSettings,
): Occurrence[] {
  const before = new Set(prev ? occurrences(prev, settings).map((o) => o.key) : []);
  const seen = new Set<string>();
  const out: Occurrence[] = [];
  for (const o of occurrences(next, settings)) {
    if (before.has(o.key) || seen.has(o.key)) continue;
    seen.add(o.key);
    if (
      !prev &&
      o.termination &&
      (o.finishedAtMs === undefined || settings.nowMs - o.finishedAtMs > settings.recentMs)
    ) {
      continue;
    }
    out.push(o);
  }
  return out;
}
