// What the agent has accepted from its detectors but not yet put in a spooled batch: the counts
// dedup holds (agent/queue/dedup.ts) and the failure, kernel OOM and birth events the outbox
// queues. The spool keeps the newest whole copy as a PENDING record (record.ts), written with
// the batch that takes events out of it (same write, same fsync) and at most once per flush
// interval otherwise, when it changed. A restarted agent puts it back: held counts into dedup
// with what is left of their window, queued events into the outbox
// (docs/adr/0013-counting-across-agent-restarts.md, "Held and queued counts").
//
// Throttle and MemoryPressure samples are not kept here: their episodes are continued from the
// spool's memory, and a queued sample restored beside a continued episode would open it twice.
import { type WireEvent, wire } from "../../shared/proto.ts";

/** One dedup window that holds occurrences: its newest held event leaves carrying `held`. */
export interface HeldCount {
  /** The newest held event (its id is what the restarted detectors must not report again). */
  event: WireEvent;
  held: number;
  /** Wall-clock ms the window ends (monotonic time does not survive a restart). */
  endsAtMs: number;
}

export interface PendingState {
  held: HeldCount[];
  queued: WireEvent[];
}

export const EMPTY_PENDING: PendingState = { held: [], queued: [] };

/** Bound of one PENDING record; what does not fit is not kept across a restart (logged). */
const PENDING_MAX_BYTES = 1024 * 1024;

/** Events the outbox queue hands to the spool's PENDING record. */
export const keptWhileQueued = (event: WireEvent): boolean =>
  Boolean(event.failure || event.oom || event.birth);

interface PendingJson {
  v: 1;
  /** [held, endsAtMs, Event bytes base64] */
  held: [number, number, string][];
  /** Event bytes base64 */
  queued: string[];
}

// The same event object is encoded many times (once per persist while it waits).
const encoded = new WeakMap<WireEvent, string>();
function b64(event: WireEvent): string {
  let s = encoded.get(event);
  if (s === undefined) {
    s = Buffer.from(wire.Event.encode(event).finish()).toString("base64");
    encoded.set(event, s);
  }
  return s;
}

/**
 * The record's payload, held counts first (they stand for more than one occurrence), within
 * `maxBytes`; `left` is how many held counts and queued events did not fit.
 */
export function encodePending(
  state: PendingState,
  maxBytes = PENDING_MAX_BYTES,
): { json: string; left: number } {
  const out: PendingJson = { v: 1, held: [], queued: [] };
  let bytes = 32;
  let left = 0;
  for (const h of state.held) {
    const e = b64(h.event);
    if (bytes + e.length + 40 > maxBytes) {
      left++;
      continue;
    }
    bytes += e.length + 40;
    out.held.push([h.held, Math.round(h.endsAtMs), e]);
  }
  for (const event of state.queued) {
    const e = b64(event);
    if (bytes + e.length + 3 > maxBytes) {
      left++;
      continue;
    }
    bytes += e.length + 3;
    out.queued.push(e);
  }
  return { json: out.held.length + out.queued.length === 0 ? "" : JSON.stringify(out), left };
}

/** Reads a PENDING payload; throws when it does not decode. An empty payload is the empty state. */
export function decodePending(payload: Buffer): PendingState {
  if (payload.length === 0) return { held: [], queued: [] };
  const j = JSON.parse(payload.toString("utf8")) as Partial<PendingJson>;
  if (j.v !== 1 || !Array.isArray(j.held) || !Array.isArray(j.queued))
    throw new Error("not a pending record");
  const event = (s: unknown): WireEvent => {
    if (typeof s !== "string") throw new Error("not an event");
    return wire.Event.decode(Buffer.from(s, "base64")) as WireEvent;
  };
  return {
    held: j.held.map(([held, endsAtMs, e]) => {
      if (!Number.isSafeInteger(held) || held <= 0 || !Number.isFinite(endsAtMs))
        throw new Error("not a held count");
      return { held, endsAtMs, event: event(e) };
    }),
    queued: j.queued.map(event),
  };
}
