// Noise control for OOM risk: one small state machine per container, like CPU throttling's.
//
//   closed ──a trigger holds──▶ open ──(every updateIntervalMs, or a new trigger)──▶ update …
//   open ──working set below openRatio and no stall, continuously for resolveAfterMs──▶ resolved
//
// Triggers (any opens an episode):
//   NearLimit — working set ≥ openRatio × limit in every sample of the window (two at least);
//   LimitHit  — the limit was hit in the window while the working set is ≥ openRatio × limit:
//               the kernel had to reclaim and what is left is not reclaimable cache;
//   Stall     — memory PSI "full avg10" ≥ stallPercent (all tasks waiting on memory), with or
//               without a limit: the only risk a container without a limit shows.

import type { MemoryStats } from "./memory-window.ts";
import type { PressureFigures } from "./parse.ts";

export interface MemorySettings {
  windowMs: number;
  /** Working set / limit that counts as close (0..1). */
  openRatio: number;
  /** memory.pressure full avg10, percent, that counts as a stall. */
  stallPercent: number;
  resolveAfterMs: number;
  updateIntervalMs: number;
  /** How long after an episode resolved an OOM kill is still linked to it. */
  linkLookbackMs: number;
}

export const DEFAULT_MEMORY_SETTINGS: MemorySettings = {
  windowMs: 60_000,
  openRatio: 0.9,
  stallPercent: 10,
  resolveAfterMs: 120_000,
  updateIntervalMs: 60_000,
  linkLookbackMs: 3_600_000,
};

const RULES: Record<keyof MemorySettings, [(v: number) => boolean, string]> = {
  windowMs: [(v) => v >= 1_000, "at least 1000 ms"],
  openRatio: [(v) => v > 0 && v <= 1, "above 0 and at most 1"],
  stallPercent: [(v) => v > 0 && v <= 100, "above 0 and at most 100"],
  resolveAfterMs: [(v) => v >= 0, "0 ms or more"],
  updateIntervalMs: [(v) => v >= 1_000, "at least 1000 ms"],
  linkLookbackMs: [(v) => v >= 0, "0 ms or more"],
};

/** The valid subset of a settings change; each rejected field is reported through `reject`. */
export function validMemorySettings(
  settings: Partial<MemorySettings>,
  reject: (field: keyof MemorySettings, value: unknown, rule: string) => void,
): Partial<MemorySettings> {
  const out: Partial<MemorySettings> = {};
  for (const [field, value] of Object.entries(settings) as [keyof MemorySettings, number | undefined][]) {
    if (value === undefined || !(field in RULES)) continue;
    const [ok, rule] = RULES[field];
    if (typeof value === "number" && Number.isFinite(value) && ok(value)) out[field] = value;
    else reject(field, value, rule);
  }
  return out;
}

export type MemoryTrigger = "NearLimit" | "LimitHit" | "Stall";

function triggersOf(
  stats: MemoryStats,
  pressure: PressureFigures | undefined,
  s: MemorySettings,
): MemoryTrigger[] {
  const out: MemoryTrigger[] = [];
  if (stats.limitBytes > 0 && stats.samples >= 2 && stats.minRatio >= s.openRatio) out.push("NearLimit");
  if (stats.limitBytes > 0 && stats.limitHits > 0 && stats.ratio >= s.openRatio) out.push("LimitHit");
  if (pressure !== undefined && pressure.fullAvg10 >= s.stallPercent) out.push("Stall");
  return out;
}

export interface MemoryStep {
  state: "open" | "update" | "resolved";
  openedAtMs: number;
  seq: number;
  triggers: MemoryTrigger[];
  /** Highest working set since the episode opened. */
  peakBytes: number;
  samples: number;
}

interface Episode {
  openedAtMs: number;
  seq: number;
  lastEventMono: number;
  calmSinceMono?: number;
  triggers: Set<MemoryTrigger>;
  peakBytes: number;
  samples: number;
}

export class MemorySignal {
  #episode?: Episode;

  get isOpen(): boolean {
    return this.#episode !== undefined;
  }

  observe(
    nowMono: number,
    nowWall: number,
    stats: MemoryStats,
    pressure: PressureFigures | undefined,
    s: MemorySettings,
  ): MemoryStep | undefined {
    const triggers = triggersOf(stats, pressure, s);
    const ep = this.#episode;
    if (ep === undefined) {
      if (triggers.length === 0) return undefined;
      this.#episode = {
        openedAtMs: nowWall,
        seq: 0,
        lastEventMono: nowMono,
        triggers: new Set(triggers),
        peakBytes: stats.workingSetBytes,
        samples: 1,
      };
      return {
        state: "open",
        openedAtMs: nowWall,
        seq: 0,
        triggers,
        peakBytes: stats.workingSetBytes,
        samples: 1,
      };
    }
    ep.samples++;
    ep.peakBytes = Math.max(ep.peakBytes, stats.workingSetBytes);
    const hot = (stats.limitBytes > 0 && stats.ratio >= s.openRatio) || triggers.includes("Stall");
    if (hot) ep.calmSinceMono = undefined;
    else {
      ep.calmSinceMono ??= nowMono;
      if (nowMono - ep.calmSinceMono >= s.resolveAfterMs) return this.close();
    }
    // A trigger not seen before in this episode (e.g. the limit now hit) is news: send it now.
    const news = triggers.some((t) => !ep.triggers.has(t));
    for (const t of triggers) ep.triggers.add(t);
    if (news || nowMono - ep.lastEventMono >= s.updateIntervalMs) {
      ep.lastEventMono = nowMono;
      ep.seq++;
      return {
        state: "update",
        openedAtMs: ep.openedAtMs,
        seq: ep.seq,
        triggers,
        peakBytes: ep.peakBytes,
        samples: ep.samples,
      };
    }
    return undefined;
  }

  /** Continues an episode an earlier run of the agent opened (agent/spool): not opened again. */
  resume(openedAtMs: number, seq: number, peakBytes: number, nowMono: number): void {
    this.#episode = { openedAtMs, seq, lastEventMono: nowMono, triggers: new Set(), peakBytes, samples: 0 };
  }

  /** Ends an open episode (resolved, or the container went away). */
  close(): MemoryStep | undefined {
    const ep = this.#episode;
    if (ep === undefined) return undefined;
    this.#episode = undefined;
    return {
      state: "resolved",
      openedAtMs: ep.openedAtMs,
      seq: ep.seq + 1,
      triggers: [],
      peakBytes: ep.peakBytes,
      samples: ep.samples,
    };
  }
}
