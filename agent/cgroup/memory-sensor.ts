// The MemoryPressure sensor: per container instance, read the memory figures every scan,
// keep a window, run the hysteresis, send episode steps and remember episodes for the
// OOM link. The sampler calls it once per located container and on eviction.
import type { Logger } from "../../shared/log.ts";
import type { PodRef } from "../../shared/proto.ts";
import type { EventSink, PodView } from "../types/index.ts";
import type { CgroupFiles } from "./files.ts";
import { type MemoryReading, readMemory } from "./memory.ts";
import { memoryEvent, type PressureHistory } from "./memory-event.ts";
import { type MemorySettings, MemorySignal, type MemoryStep } from "./memory-signal.ts";
import { MemoryWindow } from "./memory-window.ts";
import { PressureWindow } from "./pressure.ts";
import { type FileReads, VANISHED } from "./reads.ts";

/** A MemoryPressure episode an earlier run of the agent left open (agent/spool). */
export interface RememberedMemoryEpisode {
  openedAtMs: number;
  seq: number;
  limitBytes: number;
  peakBytes: number;
  pod: PodRef;
}

interface State {
  bareId: string;
  window: MemoryWindow;
  pressure: PressureWindow;
  signal: MemorySignal;
  last?: MemoryReading;
}

export interface MemorySensorDeps {
  reads: FileReads;
  version: 1 | 2;
  sink: EventSink;
  history: PressureHistory;
  settings: MemorySettings;
  log: Logger;
  /** Episodes open when the earlier run stopped, by `podUid/container`. */
  resume?: ReadonlyMap<string, RememberedMemoryEpisode>;
}

export class MemorySensor {
  readonly #deps: MemorySensorDeps;
  readonly #states = new Map<string, State>();
  readonly #resume: Map<string, RememberedMemoryEpisode>;

  constructor(deps: MemorySensorDeps) {
    this.#deps = deps;
    this.#resume = new Map(deps.resume ?? []);
  }

  /** Applies a window change to every container. */
  resize(windowMs: number): void {
    for (const s of this.#states.values()) {
      s.window.windowMs = windowMs;
      s.pressure.windowMs = windowMs;
    }
  }

  /**
   * One scan of one container. Returns the reading (for metrics), VANISHED, or undefined when
   * the memory figures are not readable; `emitted` counts the events sent.
   */
  async sample(
    key: string,
    pod: PodView,
    container: string,
    bareId: string,
    files: CgroupFiles,
    events: { high: number; max: number } | undefined,
    nowMono: number,
    nowWall: number,
    emitted: () => void,
  ): Promise<MemoryReading | typeof VANISHED | undefined> {
    const s = this.#deps.settings;
    let state = this.#states.get(key);
    if (state && state.bareId !== bareId) {
      this.evict(key, pod, container, nowWall, emitted);
      state = undefined;
    }
    const r = await readMemory(this.#deps.reads, this.#deps.version, files, events);
    if (r === VANISHED || r === undefined) return r;
    if (!state) {
      state = {
        bareId,
        window: new MemoryWindow(s.windowMs),
        pressure: new PressureWindow(s.windowMs),
        signal: new MemorySignal(),
      };
      this.#states.set(key, state);
      const remembered = this.#resume.get(key);
      if (remembered) {
        this.#resume.delete(key);
        state.signal.resume(remembered.openedAtMs, remembered.seq, remembered.peakBytes, nowMono);
        this.#deps.history.opened(
          pod.uid,
          container,
          remembered.openedAtMs,
          remembered.peakBytes,
          remembered.limitBytes,
        );
        this.#deps.log.info(
          { pod: pod.ref.name, namespace: pod.ref.namespace, container, openedAtMs: remembered.openedAtMs },
          "MemoryPressure episode opened before the agent restarted continues (not counted again)",
        );
      }
    }
    state.last = r;
    state.window.push(nowMono, r);
    state.pressure.push(nowMono, r.pressure);
    const stats = state.window.stats();
    if (!stats) return r;
    const step = state.signal.observe(nowMono, nowWall, stats, r.pressure, s);
    if (step) this.#emit(pod, container, state, step, nowWall, emitted);
    return r;
  }

  /**
   * After the first scan: episodes an earlier run left open whose container is gone are
   * resolved (their figures are the last spooled: limit and working-set peak).
   */
  resolveGone(nowWall: number, emitted: () => void): void {
    for (const [key, e] of this.#resume) {
      const uid = e.pod.uid ?? "";
      const container = key.slice(uid.length + 1);
      const view: PodView = { uid, ref: e.pod, qosClass: "Burstable", containers: [] };
      const step: MemoryStep = {
        state: "resolved",
        openedAtMs: e.openedAtMs,
        seq: e.seq + 1,
        triggers: [],
        peakBytes: e.peakBytes,
        samples: 0,
      };
      const reading = { usageBytes: 0, workingSetBytes: 0, limitBytes: e.limitBytes, peakBytes: 0 };
      this.#deps.history.opened(uid, container, e.openedAtMs, e.peakBytes, e.limitBytes);
      this.#deps.history.resolved(uid, container, nowWall);
      this.#deps.log.info(
        { pod: e.pod.name, namespace: e.pod.namespace, container, openedAtMs: e.openedAtMs },
        "MemoryPressure episode opened before the agent restarted is resolved: its container is gone",
      );
      this.#deps.sink.emit(
        memoryEvent(view, container, step, reading, undefined, undefined, this.#deps.version, nowWall),
      );
      emitted();
    }
    this.#resume.clear();
  }

  /** The container went away: an open episode resolves (and is remembered as resolved now). */
  evict(key: string, pod: PodView, container: string, nowWall: number, emitted: () => void): void {
    const state = this.#states.get(key);
    if (!state) return;
    this.#states.delete(key);
    const step = state.signal.close();
    if (step) this.#emit(pod, container, state, step, nowWall, emitted);
  }

  #emit(
    pod: PodView,
    container: string,
    state: State,
    step: MemoryStep,
    nowWall: number,
    emitted: () => void,
  ): void {
    const h = this.#deps.history;
    const limit = state.last?.limitBytes ?? 0;
    if (step.state === "open") h.opened(pod.uid, container, step.openedAtMs, step.peakBytes, limit);
    else if (step.state === "update") h.update(pod.uid, container, step.peakBytes, limit);
    else h.resolved(pod.uid, container, nowWall);
    const event = memoryEvent(
      pod,
      container,
      step,
      state.last,
      state.window.stats(),
      state.pressure,
      this.#deps.version,
      nowWall,
    );
    this.#deps.log.debug(
      {
        id: event.id,
        triggers: step.triggers,
        workingSetBytes: state.last?.workingSetBytes,
        limitBytes: limit,
      },
      `memory pressure ${step.state}: ${pod.ref.namespace}/${pod.ref.name} container ${container}`,
    );
    this.#deps.sink.emit(event);
    emitted();
  }
}
