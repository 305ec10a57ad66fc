// Noise control for CPU throttling: one small state machine per container.
//
//   closed ──ratio ≥ openRatio──▶ open ──(every updateIntervalMs)──▶ update …
//   open ──ratio < openRatio continuously for resolveAfterMs──▶ resolved (closed)
//
// Every scan feeds it the window's ratio; it answers with the event to send, if any.
// Per-scan demand samples are collected and handed over with each event (then cleared),
// so the aggregator can size a limit from the demand distribution.

export interface ThrottleSettings {
  scanIntervalMs: number;
  windowMs: number;
  /** Throttled share of periods that opens a signal (0..1). */
  openRatio: number;
  /** How long the ratio must stay below openRatio before the signal resolves. */
  resolveAfterMs: number;
  /** How often an open signal sends an update. */
  updateIntervalMs: number;
}

const RULES: Record<keyof ThrottleSettings, [(v: number) => boolean, string]> = {
  scanIntervalMs: [(v) => v >= 1_000, "at least 1000 ms"],
  windowMs: [(v) => v >= 1_000, "at least 1000 ms"],
  openRatio: [(v) => v > 0 && v <= 1, "above 0 and at most 1"],
  resolveAfterMs: [(v) => v >= 0, "0 ms or more"],
  updateIntervalMs: [(v) => v >= 1_000, "at least 1000 ms"],
};

/** The valid subset of a settings change; each rejected field is reported through `reject`. */
export function validSettings(
  settings: Partial<ThrottleSettings>,
  reject: (field: keyof ThrottleSettings, value: unknown, rule: string) => void,
): Partial<ThrottleSettings> {
  const out: Partial<ThrottleSettings> = {};
  for (const [field, value] of Object.entries(settings) as [keyof ThrottleSettings, number | undefined][]) {
    if (value === undefined || !(field in RULES)) continue;
    const [ok, rule] = RULES[field];
    if (typeof value === "number" && Number.isFinite(value) && ok(value)) out[field] = value;
    else reject(field, value, rule);
  }
  return out;
}

export type SignalState = "open" | "update" | "resolved";

export interface SignalStep {
  state: SignalState;
  /** Wall-clock ms the episode opened; with seq it makes the event id. */
  openedAtMs: number;
  /** 0 for open, 1.. for updates, then the resolve. */
  seq: number;
  demandSamples: number[];
}

/** Bound of the demand samples kept while an episode is open (a day at 10 s is 8,640). */
const MAX_DEMAND_SAMPLES = 360;

export class ThrottleSignal {
  #episode?: { openedAtMs: number; seq: number; lastEventMono: number; belowSinceMono?: number };
  #demand: number[] = [];

  get isOpen(): boolean {
    return this.#episode !== undefined;
  }

  /**
   * One scan's verdict. `ratio` is the window's throttled ratio; `demand` the last
   * interval's demand in cores (undefined when not computable yet).
   */
  observe(
    nowMono: number,
    nowWall: number,
    ratio: number,
    demand: number | undefined,
    settings: ThrottleSettings,
  ): SignalStep | undefined {
    if (demand !== undefined) this.#keepDemand(demand, settings);
    const episode = this.#episode;
    if (episode === undefined) {
      if (ratio < settings.openRatio) return undefined;
      this.#episode = { openedAtMs: nowWall, seq: 0, lastEventMono: nowMono };
      return this.#step("open", nowWall, 0);
    }
    if (ratio >= settings.openRatio) {
      episode.belowSinceMono = undefined;
    } else {
      episode.belowSinceMono ??= nowMono;
      if (nowMono - episode.belowSinceMono >= settings.resolveAfterMs) return this.close();
    }
    if (nowMono - episode.lastEventMono >= settings.updateIntervalMs) {
      episode.lastEventMono = nowMono;
      episode.seq++;
      return this.#step("update", episode.openedAtMs, episode.seq);
    }
    return undefined;
  }

  /**
   * Continues an episode an earlier run of the agent opened (agent/spool): its next step is an
   * update (seq + 1) or the resolve, never a second open.
   */
  resume(openedAtMs: number, seq: number, nowMono: number): void {
    this.#episode = { openedAtMs, seq, lastEventMono: nowMono };
  }

  /** Ends an open episode (resolved, the container went away or lost its limit). */
  close(): SignalStep | undefined {
    const episode = this.#episode;
    if (episode === undefined) return undefined;
    this.#episode = undefined;
    return this.#step("resolved", episode.openedAtMs, episode.seq + 1);
  }

  #keepDemand(demand: number, settings: ThrottleSettings): void {
    this.#demand.push(demand);
    // Closed: only the current window matters for the opening event. Open: bounded.
    const cap = this.#episode
      ? MAX_DEMAND_SAMPLES
      : Math.max(1, Math.ceil(settings.windowMs / settings.scanIntervalMs));
    if (this.#demand.length > cap) this.#demand.splice(0, this.#demand.length - cap);
  }

  #step(state: SignalState, openedAtMs: number, seq: number): SignalStep {
    const demandSamples = this.#demand;
    this.#demand = [];
    return { state, openedAtMs, seq, demandSamples };
  }
}
