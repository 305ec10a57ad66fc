// Birth certificates: how long a pod took from creation to Ready — or to failing to start —
// step by step, with who acted at each step, plus what the kernel saw of it (CPU seconds
// and throttled periods spent starting, peak memory, processes) read from its cgroup at
// that moment.
//
// Only pods born under the agent's watch get one: a pod first seen not Ready, not finished,
// not already failing to start, and never Ready before (its Ready=False condition dates from its start, not from a later
// loss of readiness). Pods already running when the agent started get none. One per pod
// incarnation (uid): the event id is `<uid>/birth`.
//
// "Fails to start" means: a container waiting in a reason that will not resolve by itself
// (CrashLoopBackOff, image pull back-off, container config errors) or phase Failed, before
// the pod was ever Ready. A pod deleted before Ready, or a run-to-completion pod that
// Succeeded without ever being Ready, gets no certificate.
import type { LRUCache } from "lru-cache";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { boundedLru } from "../../shared/lru.ts";
import { Actor, type BirthStep, type WireEvent } from "../../shared/proto.ts";
import type { EventSink, KernelStats, KernelStatsSource } from "../types/index.ts";
import type { PodFacts } from "./facts.ts";
import type { PodsMetrics } from "./metrics.ts";

/** Waiting reasons after which a pod that was never Ready has failed to start. */
const FAILED_START_REASONS: ReadonlySet<string> = new Set([
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "ErrImageNeverPull",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** A Ready=False condition set this long after scheduling means the pod was Ready before. */
const NEVER_READY_SLACK_MS = 60_000;

export interface BirthRecorderOptions {
  clock: Clock;
  sink: EventSink;
  metrics: PodsMetrics;
  log: Logger;
  stats?: KernelStatsSource;
  /** Pods remembered as certified or ineligible (default 20,000). */
  maxRemembered?: number;
}

export class BirthRecorder {
  #o: BirthRecorderOptions;
  #pending = new Set<string>();
  #settled: LRUCache<string, true>;
  #inflight = new Set<Promise<void>>();

  constructor(options: BirthRecorderOptions) {
    this.#o = options;
    this.#settled = boundedLru(options.maxRemembered ?? 20_000);
  }

  /** Pods currently being born. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Resolves when every certificate being written (kernel stats read) was emitted. */
  async idle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
  }

  observe(prev: PodFacts | undefined, next: PodFacts | undefined): void {
    if (!next) {
      if (prev) this.#pending.delete(prev.uid);
      return;
    }
    const uid = next.uid;
    if (this.#settled.has(uid)) return;
    if (!this.#pending.has(uid)) {
      if (!bornUnderWatch(next)) {
        this.#settled.set(uid, true);
        return;
      }
      this.#pending.add(uid);
    }
    const failure = failedStart(next);
    if (!next.conditions.ready && failure === undefined) {
      if (next.phase === "Succeeded") this.#settle(uid);
      return;
    }
    this.#settle(uid);
    const done = this.#certify(next, failure).finally(() => this.#inflight.delete(done));
    this.#inflight.add(done);
  }

  #settle(uid: string): void {
    this.#pending.delete(uid);
    this.#settled.set(uid, true);
  }

  async #certify(pod: PodFacts, failure: string | undefined): Promise<void> {
    let stats: KernelStats | undefined;
    try {
      stats = await this.#o.stats?.podStats(pod);
    } catch (err) {
      this.#o.log.warn(
        { err, namespace: pod.namespace, pod: pod.name },
        "kernel stats for a birth certificate unreadable; sent without them",
      );
    }
    const event = birthEvent(pod, failure, this.#o.clock.now(), stats);
    this.#o.metrics.births.inc({ outcome: failure === undefined ? "ready" : "failed" });
    this.#o.sink.emit(event);
  }
}

function bornUnderWatch(pod: PodFacts): boolean {
  if (pod.conditions.ready || pod.phase === "Succeeded" || pod.phase === "Failed") return false;
  // Already failed to start before we looked (e.g. crash-looping at agent start): its birth
  // happened without us.
  if (failedStart(pod) !== undefined) return false;
  if (pod.deletingSinceMs !== undefined) return false;
  const { readyChangedAtMs, scheduledAtMs } = pod.conditions;
  if (readyChangedAtMs === undefined || scheduledAtMs === undefined) return true;
  return readyChangedAtMs - scheduledAtMs < NEVER_READY_SLACK_MS;
}

/** Why the pod has definitively failed to start, or undefined. */
function failedStart(pod: PodFacts): string | undefined {
  if (pod.conditions.ready) return undefined;
  for (const c of pod.containers) {
    const reason = c.state.waiting?.reason;
    if (reason && FAILED_START_REASONS.has(reason)) return reason;
  }
  if (pod.phase === "Failed") {
    return pod.reason || pod.containers.find((c) => c.state.terminated)?.state.terminated?.reason || "Failed";
  }
  return undefined;
}

/** The certificate: steps in time order, each with its actor and the time since the step before. */
function birthEvent(
  pod: PodFacts,
  failure: string | undefined,
  nowMs: number,
  stats?: KernelStats,
): WireEvent {
  const raw: { name: string; actor: number; atMs: number | undefined; container?: string }[] = [
    { name: "created", actor: Actor.ACTOR_API_SERVER, atMs: pod.createdAtMs },
    { name: "scheduled", actor: Actor.ACTOR_SCHEDULER, atMs: pod.conditions.scheduledAtMs },
    { name: "sandbox-ready", actor: Actor.ACTOR_RUNTIME, atMs: pod.conditions.sandboxReadyAtMs },
  ];
  for (const c of pod.containers) {
    const started =
      c.state.running?.startedAtMs ?? c.state.terminated?.startedAtMs ?? c.lastState.terminated?.startedAtMs;
    raw.push({
      name: c.kind === "init" ? "init-container-started" : "container-started",
      actor: Actor.ACTOR_RUNTIME,
      atMs: started,
      container: c.name,
    });
    if (c.kind === "init" && c.state.terminated?.reason === "Completed") {
      raw.push({
        name: "init-container-completed",
        actor: Actor.ACTOR_RUNTIME,
        atMs: c.state.terminated.finishedAtMs,
        container: c.name,
      });
    }
    const killed = c.lastState.terminated ?? (c.kind !== "init" ? c.state.terminated : undefined);
    if (failure !== undefined && killed && killed.reason !== "Completed") {
      const byKernel = killed.reason === "OOMKilled";
      raw.push({
        name: byKernel ? "oom-killed" : "container-exited",
        actor: byKernel ? Actor.ACTOR_KERNEL : Actor.ACTOR_RUNTIME,
        atMs: killed.finishedAtMs,
        container: c.name,
      });
    }
  }
  raw.push({ name: "initialized", actor: Actor.ACTOR_KUBELET, atMs: pod.conditions.initializedAtMs });
  if (failure === undefined)
    raw.push({ name: "ready", actor: Actor.ACTOR_KUBELET, atMs: pod.conditions.readyAtMs ?? nowMs });
  else raw.push({ name: "failed", actor: Actor.ACTOR_KUBELET, atMs: nowMs });
  const timed = raw
    .filter((s): s is typeof s & { atMs: number } => s.atMs !== undefined && s.atMs > 0)
    .sort((a, b) => a.atMs - b.atMs);
  const steps: BirthStep[] = timed.map((s, i) => ({
    name: s.name,
    actor: s.actor,
    atMs: s.atMs,
    durationMs: i === 0 ? 0 : Math.max(0, s.atMs - (timed[i - 1]?.atMs ?? s.atMs)),
    container: s.container ?? "",
  }));
  const end = steps.at(-1)?.atMs ?? nowMs;
  return {
    id: `${pod.uid}/birth`,
    pod: pod.ref,
    container: "",
    observedAtMs: nowMs,
    count: 1,
    birth: {
      steps,
      totalMs: Math.max(0, end - pod.createdAtMs),
      ready: failure === undefined,
      failureReason: failure ?? "",
      cpuSeconds: stats?.cpuSeconds ?? 0,
      throttledPeriods: stats?.throttledPeriods ?? 0,
      memoryPeakBytes: stats?.memoryPeakBytes ?? 0,
      processCount: stats?.processCount ?? 0,
      createdAtMs: pod.createdAtMs,
    },
  };
}
