// The stateful side of failure detection: runs the pure detector on every pod change and
// remembers (bounded, LRU) which occurrences it already reported, so a relist, a pod that
// leaves and re-enters scope, or a status that flaps between shapes never emits the same
// occurrence twice. Across agent restarts the aggregator's redelivery dedup (by event id)
// and the first-sight rules of the detector do that job.
import { LRUCache } from "lru-cache";
import type { Clock } from "../../shared/clock.ts";
import type { EventSink } from "../types/index.ts";
import { EXTRA_REASONS, newOccurrences } from "./detector.ts";
import type { PodFacts } from "./facts.ts";

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
}

export class FailureReporter {
  #clock: Clock;
  #sink: EventSink;
  #extra = new Set<string>();
  #recentMs = 0;
  #reported: LRUCache<string, true>;
  #lastObservedMs: number | undefined;

  constructor(options: FailureReporterOptions) {
    this.#clock = options.clock;
    this.#sink = options.sink;
    this.#reported = new LRUCache({ max: options.maxRemembered ?? 50_000 });
    this.configure(options.settings);
  }

  configure(settings: FailureSettings): void {
    const known = new Set<string>(EXTRA_REASONS);
    this.#extra = new Set(settings.extraReasons.filter((r) => known.has(r)));
    this.#recentMs = settings.cooldownMs;
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
      this.#sink.emit(o.event);
    }
  }
}
