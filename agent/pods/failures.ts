// The stateful side of failure detection: runs the pure detector on every pod change and
// remembers (bounded, LRU) which occurrences it already reported, so a relist, a pod that
// leaves and re-enters scope, or a status that flaps between shapes never emits the same
// occurrence twice. Across agent restarts the node's spool hands back what was reported
// (`remember`); without a spool the aggregator's redelivery dedup (by event id) and the
// first-sight rules of the detector do that job.
//
// A kubelet OOMKilled is checked against the kernel's oom_kill counter first (`kernel`,
// agent/cgroup/oom.ts): containerd reports a container OOMKilled once any process in it was
// ever OOM-killed, so a crash or a deletion after a child's kill is not a new kill. Such a
// termination is logged and counted (kernel_gossip_agent_oom_reports_not_counted_total),
// and sent as the Error it is when that extra reason is enabled and the pod is not deleting.
import type { LRUCache } from "lru-cache";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { boundedLru } from "../../shared/lru.ts";
import type { WireEvent, WirePressureWarning } from "../../shared/proto.ts";
import { EXTRA_REASONS } from "../../shared/vocabulary.ts";
import type { EventSink } from "../types/index.ts";
import { newOccurrences, type Occurrence } from "./detector.ts";
import type { PodFacts } from "./facts.ts";

/** The kernel's word on a kubelet OOMKilled (the cgroup sampler). */
export interface OomCheck {
  oomVerdict(
    containerId: string | undefined,
    deleting: boolean,
  ): Promise<"confirmed" | "unknown" | "kernel-counter-unchanged" | "pod-deleted">;
  /** The MemoryPressure episode the sensors saw for the container before a kill at `atMs`. */
  pressureBefore?(podUid: string, container: string, atMs: number): WirePressureWarning | undefined;
}

const NOT_A_KILL = {
  "pod-deleted":
    "the pod is being deleted and the kernel counted no kill (containerd reports OOMKilled once any process in the container was ever OOM-killed)",
  "kernel-counter-unchanged":
    "the container's oom_kill counter did not move (containerd reports OOMKilled once any process in the container was ever OOM-killed)",
} as const;

export interface FailureSettings {
  /** Enabled extra reasons (subset of EXTRA_REASONS; unknown names are ignored). */
  extraReasons: readonly string[];
  /** Dedup cooldown; also how recent a termination must be to be reported on first sight. */
  cooldownMs: number;
}

export interface FailureReporterOptions {
  clock: Clock;
  sink: EventSink;
  settings: FailureSettings;
  /** How many reported occurrences to remember (default 50,000 ≈ a few MB). */
  maxRemembered?: number;
  /** Asks the kernel about each OOMKilled; without it the kubelet's word stands. */
  kernel?: OomCheck;
  log?: Logger;
  /** kernel_gossip_agent_oom_reports_not_counted_total */
  notCounted?: { inc(labels: { cause: string }): void };
}

export class FailureReporter {
  #clock: Clock;
  #sink: EventSink;
  #extra = new Set<string>();
  #recentMs = 0;
  #reported: LRUCache<string, true>;
  /** From an earlier run (agent/spool): highest restart index reported per `uid/container/reason`. */
  #lastIndex = new Map<string, number>();
  #lastObservedMs: number | undefined;
  #options: FailureReporterOptions;

  constructor(options: FailureReporterOptions) {
    this.#options = options;
    this.#clock = options.clock;
    this.#sink = options.sink;
    this.#reported = boundedLru(options.maxRemembered ?? 50_000);
    this.configure(options.settings);
  }

  configure(settings: FailureSettings): void {
    const known = new Set<string>(EXTRA_REASONS);
    this.#extra = new Set(settings.extraReasons.filter((r) => known.has(r)));
    this.#recentMs = settings.cooldownMs;
  }

  /**
   * Occurrence ids an earlier run of this agent already reported (agent/spool): a restart's
   * relist does not report them again.
   */
  remember(ids: Iterable<string>, lastIndexes: ReadonlyMap<string, number> = new Map()): void {
    for (const id of ids) this.#reported.set(id, true);
    for (const [key, index] of lastIndexes) this.#lastIndex.set(key, index);
  }

  /**
   * A waiting reason first seen after an agent restart at restart index m, when the earlier run
   * reported index r of the same container and reason: the m − r restarts in between (held by
   * dedup, queued, or while the agent was down) are counted now, once.
   */
  #catchUp(o: Occurrence, pod: PodFacts): WireEvent {
    const f = o.event.failure;
    const key = `${pod.uid}/${o.event.container ?? ""}/${f?.reason ?? ""}`;
    const last = this.#lastIndex.get(key);
    if (last === undefined || !f || o.termination) return o.event;
    this.#lastIndex.delete(key);
    const index = f.restartCount ?? 0;
    if (index <= last + 1) return o.event;
    this.#options.log?.info(
      {
        namespace: pod.namespace,
        pod: pod.name,
        container: o.event.container,
        reason: f.reason,
        from: last,
        to: index,
      },
      `${f.reason} of ${pod.namespace}/${pod.name} container ${o.event.container}: restarts ${last + 1}-${index} happened since the last one this agent reported before it restarted; counted now`,
    );
    return { ...o.event, count: index - last };
  }

  /** Called for every pod change; `next` undefined means the pod is gone. */
  observe(prev: PodFacts | undefined, next: PodFacts | undefined): void {
    const nowMs = this.#clock.now();
    // A pod seen for the first time long after the previous observation (the watch was
    // down, or the node was quiet) may have ended containers in between: look back that far.
    const gapMs = this.#lastObservedMs === undefined ? 0 : nowMs - this.#lastObservedMs;
    this.#lastObservedMs = nowMs;
    if (!next) return;
    const found = newOccurrences(prev, next, {
      extraReasons: this.#extra,
      nowMs,
      recentMs: Math.max(this.#recentMs, gapMs),
    });
    for (const o of found) {
      const id = o.event.id ?? o.key;
      if (this.#reported.has(o.key) || this.#reported.has(id)) continue;
      this.#reported.set(o.key, true);
      this.#reported.set(id, true);
      if (o.event.failure?.reason === "OOMKilled" && this.#options.kernel) void this.#checkOom(o, next);
      else this.#sink.emit(prev ? o.event : this.#catchUp(o, next));
    }
  }

  async #checkOom(o: Occurrence, pod: PodFacts): Promise<void> {
    const deleting = pod.deletingSinceMs !== undefined;
    let verdict: Awaited<ReturnType<OomCheck["oomVerdict"]>>;
    try {
      verdict = (await this.#options.kernel?.oomVerdict(o.containerId, deleting)) ?? "unknown";
    } catch {
      verdict = "unknown";
    }
    if (verdict === "confirmed" || verdict === "unknown") {
      const f = o.event.failure;
      const killedAt = Number(f?.finishedAtMs ?? 0) || this.#clock.now();
      const warning = this.#options.kernel?.pressureBefore?.(pod.uid, o.event.container ?? "", killedAt);
      this.#sink.emit(f && warning ? { ...o.event, failure: { ...f, precedingPressure: warning } } : o.event);
      return;
    }
    const f = o.event.failure;
    this.#options.notCounted?.inc({ cause: verdict });
    this.#options.log?.info(
      {
        namespace: pod.namespace,
        pod: pod.name,
        container: o.event.container,
        containerId: o.containerId,
        exitCode: f?.exitCode,
        cause: verdict,
      },
      `OOMKilled termination of ${pod.namespace}/${pod.name} container ${o.event.container} (exit code ${f?.exitCode ?? "?"}) not counted as an OOM kill: ${NOT_A_KILL[verdict]}`,
    );
    if (!deleting && f && f.exitCode !== 0 && this.#extra.has("Error")) {
      const id = (o.event.id ?? "").replace(/\/OOMKilled$/, "/Error");
      const error: WireEvent = {
        ...o.event,
        id,
        failure: { ...f, reason: "Error", lastReason: "OOMKilled" },
      };
      this.#sink.emit(error);
    }
  }
}
