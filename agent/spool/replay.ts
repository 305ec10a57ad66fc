// Reading a spool file back at start: every record in order — batches (their events folded
// into what was reported), settles, snapshots (memory, instance id, next sequence number) and
// PENDING records (what dedup held and the outbox queued) — skipping and counting damaged
// records. The Spool (index.ts) keeps the unsettled batches it returns, within its bound.
import { readFileSync } from "node:fs";
import type { Logger } from "../../shared/log.ts";
import { decodeEnvelope, fillFromPodTable, type WireEvent } from "../../shared/proto.ts";
import { dedupKey } from "../queue/dedup.ts";
import { type MemorySnapshot, SpoolMemory } from "./memory.ts";
import type { SpoolMetrics } from "./metrics.ts";
import { decodePending, EMPTY_PENDING, type PendingState } from "./pending.ts";
import { RecordType, readRecords, readSeq } from "./record.ts";

export const SEQ_JUMP_AFTER_DAMAGE = 1024;

export interface Snapshot {
  version: 1;
  instanceId: string;
  nextSeq: number;
  memory: MemorySnapshot;
}

export interface Replayed {
  memory: SpoolMemory;
  nextSeq: number;
  instanceId?: string;
  /** Events per unsettled batch, by sequence number. */
  events: Map<number, number>;
  pending: PendingState;
  /** Unsettled batches by sequence number, oldest first, and their bytes. */
  live: Map<number, Uint8Array>;
  liveBytes: number;
}

/** Replays `file` (none yet: an empty spool). */
export function replaySpool(file: string, deps: { log: Logger; metrics: SpoolMetrics }): Replayed {
  const live = new Map<number, Uint8Array>();
  let liveBytes = 0;
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return {
      memory: new SpoolMemory(),
      nextSeq: 1,
      events: new Map(),
      pending: EMPTY_PENDING,
      live,
      liveBytes,
    };
  }
  const { records, damage } = readRecords(data);
  let memory = new SpoolMemory();
  let nextSeq = 1;
  let instanceId: string | undefined;
  const events = new Map<number, number>();
  let undecodable = 0;
  let pending: PendingState = EMPTY_PENDING;
  /** Events of batches written after the newest PENDING record (none, unless a write tore). */
  let after: WireEvent[] = [];
  for (const r of records) {
    if (r.type === RecordType.pending) {
      try {
        pending = decodePending(r.payload);
        after = [];
      } catch {
        undecodable++;
      }
      continue;
    }
    if (r.type === RecordType.snapshot) {
      let s: Partial<Snapshot>;
      try {
        s = JSON.parse(r.payload.toString("utf8"));
      } catch {
        undecodable++;
        continue;
      }
      try {
        memory = SpoolMemory.from(s.memory);
      } catch {
        undecodable++;
        continue;
      }
      if (typeof s.instanceId === "string") instanceId = s.instanceId;
      if (Number.isSafeInteger(s.nextSeq)) nextSeq = Math.max(nextSeq, s.nextSeq as number);
      continue;
    }
    const seq = readSeq(r.payload);
    if (r.type === RecordType.settle) {
      const frame = live.get(seq);
      if (frame) liveBytes -= frame.length;
      live.delete(seq);
      continue;
    }
    const frame = r.payload.subarray(8);
    let batchEvents: WireEvent[];
    try {
      const batch = decodeEnvelope(frame).batch;
      batchEvents = batch?.events ?? [];
      if (!batch || fillFromPodTable(batch.pods ?? [], batchEvents)) throw new Error("not a batch");
    } catch {
      undecodable++;
      continue;
    }
    memory.fold(batchEvents);
    after.push(...batchEvents);
    events.set(seq, batchEvents.length);
    nextSeq = Math.max(nextSeq, seq + 1);
    // Copied: the file's buffer would otherwise stay alive for the frame's sake.
    live.set(seq, Uint8Array.from(frame));
    liveBytes += frame.length;
  }
  for (const d of damage) {
    deps.metrics.damaged.inc({ kind: d.kind });
    deps.log.warn(
      { file: file, offset: d.offset, bytes: d.bytes, kind: d.kind },
      d.kind === "torn"
        ? `spool ${file}: skipped ${d.bytes} bytes at offset ${d.offset} cut short at the end of the file (a crash during a write: that batch was never sent); the rest is replayed`
        : `spool ${file}: skipped ${d.bytes} unreadable bytes at offset ${d.offset} (bad checksum or record); the rest is replayed — check the node's disk if this recurs`,
    );
  }
  if (undecodable > 0) {
    deps.metrics.damaged.inc({ kind: "corrupt" }, undecodable);
    deps.log.warn(
      { file: file, records: undecodable },
      `spool ${file}: skipped ${undecodable} records with a valid checksum that do not decode (written by an incompatible version?); the rest is replayed`,
    );
  }
  if (damage.length + undecodable > 0) nextSeq += SEQ_JUMP_AFTER_DAMAGE;
  pending = withoutSpooled(pending, after);
  // Put back by the agent and sent again: the restarted detectors must not report them too.
  memory.fold(pending.held.map((h) => h.event));
  memory.fold(pending.queued);
  return {
    memory,
    nextSeq,
    ...(instanceId !== undefined && { instanceId }),
    events,
    pending,
    live,
    liveBytes,
  };
}

/**
 * The pending state minus what a batch written after it already carries (by event id, or for a
 * held count by its dedup key: the count may have left inside a later event of its key). Only
 * a write torn between a batch and its PENDING record leaves such a batch; dropping the key's
 * count there can lose it, never count it twice.
 */
function withoutSpooled(pending: PendingState, after: readonly WireEvent[]): PendingState {
  if (after.length === 0) return pending;
  const ids = new Set(after.map((e) => e.id ?? ""));
  const keys = new Set(after.map((e) => dedupKey(e)).filter((k) => k !== undefined));
  return {
    held: pending.held.filter((h) => !ids.has(h.event.id ?? "") && !keys.has(dedupKey(h.event) ?? "")),
    queued: pending.queued.filter((e) => !ids.has(e.id ?? "")),
  };
}
