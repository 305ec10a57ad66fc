// What one journal entry holds and how the journal is written into its ConfigMap (ADR 0014).
//
// An entry is one agent batch's counted change to one whisper, not yet written to it: the
// whisper's identity (enough to create it: its writer key, namespace, workload, container,
// signal), the batch's delivery tag and, per pod, the occurrences it adds (with the throttling
// episode it counted and whether it resolved the episode). Evidence, demand samples and the
// HPA are left out: a replayed whisper keeps the evidence the object already shows (or none
// until its next occurrence). Pods carry the identity enrichment gave them, so a replay never
// looks a deleted pod up again.
//
// Compact by sharing: JSON with the agents and whispers (with their pods) once each, and an
// entry as a short tuple of indexes (gzipped into the ConfigMap's binaryData by the journal):
//   {"v":1,"t":oldestMs,"a":[agent…],"w":[[key,ns,cluster,project,wkind,wname,container,signal,[[uid,name,node,qos]…]]…],
//    "m":oldestMark,"e":[[whisper,agent,seq,atMs-oldestMs,[[pod,count,episode,resolved]…],mark-oldestMark]…]}
// An entry is ~30 bytes of JSON once its agent, whisper and pod are there (its mark ~5); a pod ~90
// (journal-stays-compact test); gzip takes a third to a half off.
import type { DeliveryTag } from "../emit/ledger.ts";
import type { WhisperIdentity } from "../emit/types.ts";
import { type PodIdentity, SIGNALS, type Signal } from "../types/index.ts";

export const JOURNAL_DATA_KEY = "entries.json.gz";
export const JOURNAL_FORMAT = 1;

export interface JournalOccurrence {
  pod: PodIdentity;
  count: number;
  /** The throttling episode this occurrence counted (episodes.ts key), if any. */
  episode?: number | undefined;
  resolved?: boolean | undefined;
}

export interface JournalRecord {
  /** The CR writer's key of the whisper. */
  key: string;
  identity: WhisperIdentity;
  tag: DeliveryTag;
  /** Newest node-side time among the batch's occurrences for this whisper (ms). */
  atMs: number;
  occurrences: JournalOccurrence[];
  /**
   * The journal owner's mark of the change (Journal.nextMark, increasing per replica): a
   * whisper's `status.journals` holds, per journal, the highest mark its count holds, so a
   * replay skips a change the whisper holds even once its delivery ledger forgot the batch
   * (ADR 0014, "Marks"). Absent in entries written before marks.
   */
  mark?: number | undefined;
}

type PodTuple = [string, string, string, string];
type WhisperTuple = [string, string, string, string, string, string, string, string, PodTuple[]];
type OccTuple = [number, number, number, number];
type EntryTuple =
  | [number, number, number, number, OccTuple[]]
  | [number, number, number, number, OccTuple[], number];

/** The journal's data: JSON sharing agents, whispers and pods among entries. */
export function encodeJournal(records: Iterable<JournalRecord>): string {
  const agents = new Map<string, number>();
  const whispers = new Map<string, { i: number; tuple: WhisperTuple; pods: Map<string, number> }>();
  const entries: EntryTuple[] = [];
  for (const r of records) {
    let a = agents.get(r.tag.agent);
    if (a === undefined) {
      a = agents.size;
      agents.set(r.tag.agent, a);
    }
    let w = whispers.get(r.key);
    if (!w) {
      const id = r.identity;
      w = {
        i: whispers.size,
        tuple: [
          r.key,
          id.namespace,
          id.cluster,
          id.project,
          id.workload.kind,
          id.workload.name,
          id.container,
          id.signal,
          [],
        ],
        pods: new Map(),
      };
      whispers.set(r.key, w);
    }
    const occ: OccTuple[] = [];
    for (const o of r.occurrences) {
      let p = w.pods.get(o.pod.uid);
      if (p === undefined) {
        p = w.pods.size;
        w.pods.set(o.pod.uid, p);
        w.tuple[8].push([o.pod.uid, o.pod.name, o.pod.node, o.pod.qosClass]);
      }
      occ.push([p, o.count, o.episode ?? 0, o.resolved ? 1 : 0]);
    }
    entries.push(
      r.mark === undefined ? [w.i, a, r.tag.seq, r.atMs, occ] : [w.i, a, r.tag.seq, r.atMs, occ, r.mark],
    );
  }
  // Times and marks as offsets from the oldest: a few digits instead of 13 or 16.
  let t = Number.POSITIVE_INFINITY;
  let m = Number.POSITIVE_INFINITY;
  for (const e of entries) {
    if (e[3] < t) t = e[3];
    if (e[5] !== undefined && e[5] < m) m = e[5];
  }
  if (!Number.isFinite(t)) t = 0;
  for (const e of entries) {
    e[3] -= t;
    if (e[5] !== undefined) e[5] -= m;
  }
  return JSON.stringify({
    v: JOURNAL_FORMAT,
    t,
    ...(Number.isFinite(m) && { m }),
    a: [...agents.keys()],
    w: [...whispers.values()].map((w) => w.tuple),
    e: entries,
  });
}

/** An upper bound of what `r` adds to the encoded journal, counted as if it shared nothing. */
export function estimateBytes(r: JournalRecord): number {
  const id = r.identity;
  let n =
    64 +
    r.tag.agent.length +
    r.key.length +
    id.namespace.length +
    id.cluster.length +
    id.project.length +
    id.workload.kind.length +
    id.workload.name.length +
    id.container.length +
    id.signal.length;
  for (const o of r.occurrences) {
    n += 48 + o.pod.uid.length + o.pod.name.length + o.pod.node.length + o.pod.qosClass.length;
  }
  return n * 2; // JSON escapes: a character may take two bytes
}

const str = (v: unknown): v is string => typeof v === "string";
const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * The records of a journal's data; what cannot be read (a hand edit, another version) is
 * counted in `malformed` and left out.
 */
export function decodeJournal(text: string | undefined): { records: JournalRecord[]; malformed: number } {
  if (!text) return { records: [], malformed: 0 };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { records: [], malformed: 1 };
  }
  const d = doc as { v?: unknown; t?: unknown; m?: unknown; a?: unknown; w?: unknown; e?: unknown };
  if (
    d.v !== JOURNAL_FORMAT ||
    !num(d.t) ||
    !Array.isArray(d.a) ||
    !Array.isArray(d.w) ||
    !Array.isArray(d.e)
  ) {
    return { records: [], malformed: 1 };
  }
  const agents = d.a as unknown[];
  const whispers: ({ key: string; identity: WhisperIdentity; pods: PodIdentity[] } | undefined)[] = (
    d.w as unknown[]
  ).map((t) => {
    if (!Array.isArray(t) || t.length !== 9 || !t.slice(0, 8).every(str) || !Array.isArray(t[8]))
      return undefined;
    const [key, namespace, cluster, project, kind, name, container, signal] = t as string[];
    if (!SIGNALS.includes(signal as Signal)) return undefined;
    const pods: PodIdentity[] = [];
    for (const p of t[8] as unknown[]) {
      if (!Array.isArray(p) || p.length !== 4 || !p.every(str)) return undefined;
      const [uid, podName, node, qosClass] = p as string[];
      pods.push({ uid, namespace, name: podName, node, qosClass } as PodIdentity);
    }
    return {
      key: key as string,
      identity: {
        cluster: cluster as string,
        project: project as string,
        workload: { kind: kind as string, name: name as string },
        namespace: namespace as string,
        container: container as string,
        signal: signal as Signal,
      },
      pods,
    };
  });
  const records: JournalRecord[] = [];
  let malformed = 0;
  for (const e of d.e as unknown[]) {
    const t = e as unknown[];
    const w = Array.isArray(t) && num(t[0]) ? whispers[t[0]] : undefined;
    const agent = Array.isArray(t) && num(t[1]) ? agents[t[1]] : undefined;
    if (!w || !str(agent) || !num(t[2]) || t[2] <= 0 || !num(t[3]) || !Array.isArray(t[4])) {
      malformed++;
      continue;
    }
    const occurrences: JournalOccurrence[] = [];
    let bad = false;
    for (const item of t[4] as unknown[]) {
      const o = (Array.isArray(item) ? item : []) as unknown[];
      const pod = num(o[0]) ? w.pods[o[0]] : undefined;
      if (!pod || !num(o[1]) || !num(o[2]) || !num(o[3])) {
        bad = true;
        break;
      }
      occurrences.push({
        pod,
        count: o[1],
        ...(o[2] !== 0 && { episode: o[2] }),
        ...(o[3] === 1 && { resolved: true }),
      });
    }
    if (bad) {
      malformed++;
      continue;
    }
    records.push({
      key: w.key,
      identity: w.identity,
      tag: { agent, seq: t[2] },
      atMs: (d.t as number) + t[3],
      occurrences,
      ...(num(d.m) && num(t[5]) && { mark: d.m + t[5] }),
    });
  }
  return { records, malformed };
}
