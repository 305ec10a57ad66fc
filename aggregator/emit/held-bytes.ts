// What an object the CR writer holds costs in heap, estimated without walking the heap: the
// basis of --max-pending-bytes and kernel_gossip_aggregator_pending_bytes.
//
// An entry holds its document (a KernelWhisper's identity, affected pods, evidence, demand
// samples and delivery ledger; a birth certificate's facts) and one waiter per batch waiting
// on its next write: the waiter's record, the batch's pending count bucket in the document
// (tag and per-pod counts) and the ids of the batch's events folded into it (the pipeline
// keeps them until the batch is acked, for redelivery dedup). The constants are V8 object
// sizes (64-bit, no pointer compression: Node's default), checked against the heap the
// objects really take by aggregator/emit/held-bytes-match-the-heap.test.ts.
import type { AffectedPod } from "./types.ts";
import type { Doc } from "./write-waiter.ts";

/** A string's header; its characters cost one byte each (two when any is above U+00FF). */
const STRING_HEADER = 16;
/** WhisperState with its maps, ledger, pending counts and arrays, empty. */
export const WHISPER_BASE = 1_400;
/** One affected pod record, without its strings. */
const POD_RECORD = 120;
/** One delivery-ledger agent: its map entry, seq set and record. */
const LEDGER_AGENT = 200;
/** One sequence number in a ledger's set. */
const LEDGER_SEQ = 24;
/** A birth certificate with its facts, without strings and steps. */
const BIRTH_BASE = 900;
const BIRTH_STEP = 120;
/**
 * One waiting batch on one object: the waiter record (ObjectWait), the batch record and its
 * promises, the batch's count bucket in the document, its context. Measured: ~2.6 KB.
 */
export const WAITER_BASE = 2_400;
/** One event the waiter stands for: its observed time and the pod's count in the bucket. */
export const WAITER_EVENT = 48;
/** One event id kept for redelivery dedup: the in-flight map entry, on top of the string. */
export const WAITER_ID = 64;

export function stringBytes(s: string | undefined): number {
  if (!s) return 0;
  return STRING_HEADER + (TWO_BYTE.test(s) ? 2 * s.length : s.length);
}

/** Any character above U+00FF: V8 stores the string with two bytes per character. */
const TWO_BYTE = /[^\u0000-\u00ff]/;

/** Estimated heap bytes of a waiter standing for `events` events whose ids are `ids`. */
export function waiterBytes(events: number, idBytes: number): number {
  return WAITER_BASE + events * WAITER_EVENT + idBytes;
}

/**
 * Estimated heap bytes of one document, without the waiters. Asked on every submit: what never
 * changes (a birth certificate; a whisper's identity; an affected pod's names) is counted once.
 */
export function docBytes(doc: Doc): number {
  let fixed = FIXED.get(doc);
  if (fixed === undefined) {
    fixed = fixedBytes(doc);
    FIXED.set(doc, fixed);
  }
  if (doc.kind === "PodBirthCertificate") return fixed;
  let n = fixed + stringBytes(doc.node) + stringBytes(doc.hpa);
  for (const p of doc.pods) n += podBytes(p);
  n += 16 + doc.samples.length * 8;
  n += evidenceBytes(doc.evidence);
  const ledger = doc.ledger.sizes();
  n += ledger.agents * (LEDGER_AGENT + STRING_HEADER) + ledger.agentChars + ledger.seqs * LEDGER_SEQ;
  return n;
}

/** What a document holds that never changes, by document. */
const FIXED = new WeakMap<Doc, number>();

/** An affected pod record's bytes, by record, with the names they were counted for. */
const PODS = new WeakMap<AffectedPod, { name: string; uid: string; node: string; bytes: number }>();

function podBytes(p: AffectedPod): number {
  const known = PODS.get(p);
  if (known && known.name === p.name && known.uid === p.uid && known.node === p.node) return known.bytes;
  const bytes = POD_RECORD + stringBytes(p.name) + stringBytes(p.uid) + stringBytes(p.node);
  PODS.set(p, { name: p.name, uid: p.uid, node: p.node, bytes });
  return bytes;
}

/** A birth certificate whole (its facts are fixed); a whisper's identity and name. */
function fixedBytes(doc: Doc): number {
  if (doc.kind === "PodBirthCertificate") {
    const f = doc.facts;
    let n = BIRTH_BASE + stringBytes(doc.name) + stringBytes(f.failureReason);
    n +=
      stringBytes(f.pod.name) +
      stringBytes(f.pod.uid) +
      stringBytes(f.pod.node) +
      stringBytes(f.pod.namespace);
    n +=
      stringBytes(f.enriched.cluster) +
      stringBytes(f.enriched.project) +
      stringBytes(f.enriched.workload.name);
    for (const s of f.steps) n += BIRTH_STEP + stringBytes(s.name) + stringBytes(s.container);
    return n;
  }
  const id = doc.identity;
  return (
    WHISPER_BASE +
    stringBytes(doc.name) +
    stringBytes(id.namespace) +
    stringBytes(id.container) +
    stringBytes(id.cluster) +
    stringBytes(id.project) +
    stringBytes(id.workload.kind) +
    stringBytes(id.workload.name)
  );
}

/**
 * Evidence records are flat objects of numbers and short strings, but messages can be long.
 * Walked without Object.values (per submit: no arrays allocated to count).
 */
function evidenceBytes(e: object): number {
  let n = 0;
  for (const k in e) if (Object.hasOwn(e, k)) n += recordBytes((e as Record<string, unknown>)[k]);
  return n;
}

function recordBytes(record: unknown): number {
  if (!record || typeof record !== "object") return 0;
  let n = 64;
  for (const k in record) {
    if (!Object.hasOwn(record, k)) continue;
    const v = (record as Record<string, unknown>)[k];
    n += 16;
    if (typeof v === "string") n += stringBytes(v);
    else if (v && typeof v === "object") n += recordBytes(v);
  }
  return n;
}
