// What this node's agent has already put in the spool, kept across restarts so a restarted
// agent does not report it again (docs/adr/0013-counting-across-agent-restarts.md):
//  - the ids of kubelet-reported occurrences (PodFailure events: CrashLoopBackOff, OOMKilled,
//    …; ids `podUID/container/index/reason` are deterministic), handed to the failure
//    reporter as "already reported", and for waiting reasons (one per restart) the highest
//    restart index reported, so the restarted reporter counts the restarts it did not see;
//  - per container instance, the highest kernel oom_kill counter value a kernel OOM event
//    carried: the restarted sampler's baseline for that instance, so kills made while the
//    agent was down are reported and older ones are not;
//  - per container, the open CPU throttling episode (opened at, last step): the restarted
//    sampler continues it instead of opening a new one, or resolves it if the container is gone;
//  - the same for the open MemoryPressure episode (with its limit and working-set peak, which
//    the OOM-kill link and a resolve after the container is gone still need).
//
// It is derived from the batches themselves — folded in when a batch record is appended and
// again when the spool is replayed — so it is exactly as durable as the events it stands for:
// an event lost before it reached the spool is not remembered either, and is detected again.
import { OomSource, type PodRef, ThrottleState, type WireEvent, wire } from "../../shared/proto.ts";

/** Entries kept per kind; oldest forgotten first. */
const MEMORY_BOUND = 10_000;

export interface OpenEpisode {
  /** Wall-clock ms the episode opened (part of its event ids). */
  openedAtMs: number;
  /** The last step sent: 0 = open, 1.. updates. */
  seq: number;
  limitCores: number;
  /** The pod as last reported, for resolving the episode when the pod is gone. */
  pod: PodRef;
}

/** A MemoryPressure episode open when last spooled. */
export interface OpenMemoryEpisode {
  openedAtMs: number;
  seq: number;
  limitBytes: number;
  peakBytes: number;
  pod: PodRef;
}

export interface MemorySnapshot {
  reported: string[];
  /** `podUid/container/reason` → highest restart index reported for a waiting reason. */
  waiting?: [string, number][];
  oom: [string, number][];
  /** The pod as protobuf PodRef bytes, base64. */
  episodes: [string, Omit<OpenEpisode, "pod"> & { pod: string }][];
  /** Absent in spools written before MemoryPressure existed. */
  memoryEpisodes?: [string, Omit<OpenMemoryEpisode, "pod"> & { pod: string }][];
}

// Event id formats (built in agent/cgroup/oom.ts kernelOomEvent and
// agent/cgroup/throttle-event.ts throttleEvent; remembers-what-the-spooled-events-reported.test.ts builds them with those functions):
//   `${podUid}/${container}/${bareId12}/oom-kill/${counterValue}`
//   `${podUid}/${container}/cpu-throttle/${openedAtMs}/${state}/${seq}`
const KERNEL_OOM_ID = /^(.+)\/oom-kill\/(\d+)$/;
// agent/pods/detector.ts: `${podUid}/${container}/${index}/${reason}` (index: the restart count).
const FAILURE_ID = /^(.+)\/(\d+)\/([A-Za-z]+)$/;
/** Waiting reasons: one occurrence per restart, so a gap in restart counts is missed restarts. */
const WAITING_REASONS: ReadonlySet<string> = new Set([
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "CreateContainerConfigError",
]);
const THROTTLE_ID = /\/cpu-throttle\/(\d+)\/(open|update|resolved)\/(\d+)$/;
// agent/cgroup/memory-event.ts: `${podUid}/${container}/memory-pressure/${openedAtMs}/${state}/${seq}`
const MEMORY_ID = /\/memory-pressure\/(\d+)\/(open|update|resolved)\/(\d+)$/;

const oomKey = (podUid: string, container: string, bareId: string): string =>
  `${podUid}/${container}/${bareId.slice(0, 12)}`;
export const episodeKey = (podUid: string, container: string): string => `${podUid}/${container}`;

export class SpoolMemory {
  readonly #reported = new Map<string, true>();
  readonly #waiting = new Map<string, number>();
  readonly #oom = new Map<string, number>();
  readonly #episodes = new Map<string, OpenEpisode>();
  readonly #memoryEpisodes = new Map<string, OpenMemoryEpisode>();

  static from(snapshot: Partial<MemorySnapshot> | undefined): SpoolMemory {
    const m = new SpoolMemory();
    for (const id of snapshot?.reported ?? []) if (typeof id === "string") bounded(m.#reported, id, true);
    for (const [k, v] of snapshot?.waiting ?? [])
      if (typeof k === "string" && Number.isFinite(v)) bounded(m.#waiting, k, v);
    for (const [k, v] of snapshot?.oom ?? [])
      if (typeof k === "string" && Number.isFinite(v)) bounded(m.#oom, k, v);
    for (const [k, e] of snapshot?.episodes ?? []) {
      if (typeof k !== "string" || !e || !Number.isFinite(e.openedAtMs) || typeof e.pod !== "string")
        continue;
      const pod = wire.PodRef.decode(Buffer.from(e.pod, "base64"));
      bounded(m.#episodes, k, { openedAtMs: e.openedAtMs, seq: e.seq, limitCores: e.limitCores, pod });
    }
    for (const [k, e] of snapshot?.memoryEpisodes ?? []) {
      if (typeof k !== "string" || !e || !Number.isFinite(e.openedAtMs) || typeof e.pod !== "string")
        continue;
      const pod = wire.PodRef.decode(Buffer.from(e.pod, "base64"));
      bounded(m.#memoryEpisodes, k, {
        openedAtMs: e.openedAtMs,
        seq: e.seq,
        limitBytes: e.limitBytes ?? 0,
        peakBytes: e.peakBytes ?? 0,
        pod,
      });
    }
    return m;
  }

  /** Remembers what a spooled batch reported. */
  fold(events: Iterable<WireEvent>): void {
    for (const event of events) {
      const id = event.id ?? "";
      if (event.failure && id) {
        bounded(this.#reported, id, true);
        const m = FAILURE_ID.exec(id);
        const reason = event.failure.reason ?? "";
        if (m && m[3] === reason && WAITING_REASONS.has(reason)) {
          const key = `${m[1]}/${reason}`;
          if (Number(m[2]) > (this.#waiting.get(key) ?? -1)) bounded(this.#waiting, key, Number(m[2]));
        }
      } else if (event.oom && event.oom.source === OomSource.OOM_SOURCE_KERNEL) {
        const m = KERNEL_OOM_ID.exec(id);
        if (!m) continue;
        const key = m[1] as string;
        const value = Number(m[2]);
        if (value > (this.#oom.get(key) ?? -1)) bounded(this.#oom, key, value);
      } else if (event.throttle && event.pod?.uid) {
        const m = THROTTLE_ID.exec(id);
        if (!m) continue;
        const key = episodeKey(event.pod.uid, event.container ?? "");
        if (event.throttle.state === ThrottleState.THROTTLE_STATE_RESOLVED) {
          if (this.#episodes.get(key)?.openedAtMs === Number(m[1])) this.#episodes.delete(key);
          continue;
        }
        const seq = Number(m[3]);
        const known = this.#episodes.get(key);
        if (known && known.openedAtMs === Number(m[1]) && known.seq >= seq) continue;
        if (known && known.openedAtMs > Number(m[1])) continue; // a step of an older episode
        bounded(this.#episodes, key, {
          openedAtMs: Number(m[1]),
          seq,
          limitCores: event.throttle.limitCores ?? 0,
          pod: event.pod,
        });
      } else if (event.memory && event.pod?.uid) {
        const m = MEMORY_ID.exec(id);
        if (!m) continue;
        const key = episodeKey(event.pod.uid, event.container ?? "");
        const openedAtMs = Number(m[1]);
        const known = this.#memoryEpisodes.get(key);
        if (event.memory.state === ThrottleState.THROTTLE_STATE_RESOLVED) {
          if (known?.openedAtMs === openedAtMs) this.#memoryEpisodes.delete(key);
          continue;
        }
        const seq = Number(m[3]);
        if (known && known.openedAtMs === openedAtMs && known.seq >= seq) continue;
        if (known && known.openedAtMs > openedAtMs) continue; // a step of an older episode
        bounded(this.#memoryEpisodes, key, {
          openedAtMs,
          seq,
          limitBytes: Number(event.memory.limitBytes ?? 0),
          peakBytes: Number(event.memory.workingSetPeakBytes ?? 0),
          pod: event.pod,
        });
      }
    }
  }

  /** Ids of kubelet-reported occurrences already spooled, oldest first. */
  reportedIds(): IterableIterator<string> {
    return this.#reported.keys();
  }

  /** Highest restart index reported per `podUid/container/reason` (waiting reasons), oldest first. */
  waitingIndexes(): ReadonlyMap<string, number> {
    return this.#waiting;
  }

  /** Highest oom_kill counter value reported for this container instance, if any. */
  oomBaseline(podUid: string, container: string, bareId: string): number | undefined {
    return this.#oom.get(oomKey(podUid, container, bareId));
  }

  /** Throttling episodes open when last spooled, by `podUid/container`. */
  openEpisodes(): ReadonlyMap<string, OpenEpisode> {
    return this.#episodes;
  }

  /** MemoryPressure episodes open when last spooled, by `podUid/container`. */
  openMemoryEpisodes(): ReadonlyMap<string, OpenMemoryEpisode> {
    return this.#memoryEpisodes;
  }

  get size(): number {
    return (
      this.#reported.size +
      this.#waiting.size +
      this.#oom.size +
      this.#episodes.size +
      this.#memoryEpisodes.size
    );
  }

  toJSON(): MemorySnapshot {
    return {
      reported: [...this.#reported.keys()],
      waiting: [...this.#waiting],
      oom: [...this.#oom],
      episodes: [...this.#episodes].map(([k, e]) => [
        k,
        { ...e, pod: Buffer.from(wire.PodRef.encode(e.pod).finish()).toString("base64") },
      ]),
      memoryEpisodes: [...this.#memoryEpisodes].map(([k, e]) => [
        k,
        { ...e, pod: Buffer.from(wire.PodRef.encode(e.pod).finish()).toString("base64") },
      ]),
    };
  }
}

function bounded<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key); // re-inserted as the newest
  map.set(key, value);
  if (map.size > MEMORY_BOUND) map.delete(map.keys().next().value as string);
}
