// The node's crash-safe spool: every batch the link opens is appended here (with a checksum,
// fsync'd) before it is sent, and settled when the aggregator acknowledges it (or refuses it
// for good). A restarted agent reads the file back and resends the unsettled batches first,
// in sequence order, under the same agent instance id and the same sequence numbers, so the
// aggregator's delivery ledger (ADR 0008) counts each of them exactly once.
// docs/adr/0013-counting-across-agent-restarts.md explains the choices.
//
// Files, in `<dir>/<node>/` (one directory per node name, so agents never share one):
//   instance   this node's agent instance id (Hello.instance_id), created once (instance.ts)
//   spool.log  records (record.ts): a SNAPSHOT first, then BATCH, SETTLE and PENDING records
//              appended; the newest PENDING record is what dedup held and the outbox queued
//              (pending.ts), put back by the restarted agent; appended and rewritten by file.ts,
//              read back at start by replay.ts
//
// Invariants:
//  - a batch is on disk (write + fsync returned) before the link sends it; a settle record is
//    not fsync'd (losing one only means a resend the ledger recognises);
//  - the unsettled batches' frames stay below `maxBytes`: beyond it the oldest is settled as
//    evicted (counted, logged) — it is still sent, it just does not survive a restart;
//  - the file is rewritten (compacted: snapshot + unsettled batches, written to a temporary
//    file, fsync'd, renamed over) at start and whenever it has grown past twice what it must
//    hold (and past COMPACT_MIN_BYTES), so it holds at most ~3 × maxBytes while compacting;
//  - a PENDING record goes out in the same write (and fsync) as the batch that takes events out
//    of it, so a batch on disk never has a staler PENDING record after it; should a batch still
//    follow the newest PENDING record (a torn write), that record's counts of the same keys are
//    dropped rather than counted twice;
//  - damaged stretches found at start are skipped, counted and logged; then the sequence
//    numbers jump by SEQ_JUMP_AFTER_DAMAGE so a batch whose record was lost is never named
//    again by a different batch.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../shared/log.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { SpoolFile } from "./file.ts";
import { instanceId } from "./instance.ts";
import type { SpoolMemory } from "./memory.ts";
import type { SpoolMetrics } from "./metrics.ts";
import { encodePending, type PendingState } from "./pending.ts";
import { encodeRecord, RecordType, seqPayload } from "./record.ts";
import { replaySpool, type Snapshot } from "./replay.ts";

export { episodeKey, type OpenEpisode, SpoolMemory } from "./memory.ts";
export { createSpoolMetrics, type SpoolMetrics } from "./metrics.ts";
export { type HeldCount, keptWhileQueued, type PendingState } from "./pending.ts";
export { SEQ_JUMP_AFTER_DAMAGE } from "./replay.ts";

/** The file is compacted only once it is past this size (and past twice what it must hold). */
const COMPACT_MIN_BYTES = 4 * 1024 * 1024;

export interface SpoolOptions {
  /** The hostPath directory (SPOOL_DIR). */
  dir: string;
  node: string;
  /** Bound of the unsettled batches' bytes (SPOOL_MAX_BYTES). */
  maxBytes: number;
}

export interface SpoolDeps {
  log: Logger;
  metrics: SpoolMetrics;
}

export interface SpooledBatch {
  seq: number;
  frame: Uint8Array;
}

export class Spool {
  readonly instanceId: string;
  readonly file: string;
  readonly memory: SpoolMemory;
  /** Unsettled batches read back at open, oldest first; the link resends them. */
  readonly recovered: SpooledBatch[];
  /** What dedup held and the outbox queued when the previous process last wrote it; put back at start. */
  readonly pending: PendingState;
  /** The newest PENDING payload on disk ("" = nothing pending). */
  #pendingJson = "";
  #pendingSource: (() => PendingState) | undefined;
  #lastPendingLogMs = 0;
  #nextSeq: number;
  readonly #maxBytes: number;
  readonly #log: Logger;
  readonly #metrics: SpoolMetrics;
  /** Unsettled batches in seq order (a Map keeps insertion order; seqs only grow). */
  readonly #live: Map<number, Uint8Array>;
  #liveBytes = 0;
  readonly #file: SpoolFile;
  #lastEvictLogMs = 0;

  /** Opens (creating it if needed) and replays the spool of `node` under `dir`. Throws when unusable. */
  static open(options: SpoolOptions, deps: SpoolDeps): Spool {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(options.node))
      throw new Error(`node name ${JSON.stringify(options.node)} cannot name a spool directory`);
    const dir = join(options.dir, options.node);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new Spool(dir, options, deps);
  }

  private constructor(dir: string, options: SpoolOptions, deps: SpoolDeps) {
    this.#maxBytes = options.maxBytes;
    this.#log = deps.log.child({ component: "spool", spool: dir });
    this.#metrics = deps.metrics;
    this.file = join(dir, "spool.log");
    this.#file = new SpoolFile(dir, this.file, this.#log, this.#metrics);
    const read = replaySpool(this.file, { log: this.#log, metrics: this.#metrics });
    this.#live = read.live;
    this.#liveBytes = read.liveBytes;
    // Only the newest batches fit the bound; the oldest are the ones to give up.
    for (const seq of [...this.#live.keys()]) {
      if (this.#liveBytes <= this.#maxBytes || this.#live.size <= 1) break;
      this.#evict(seq);
    }
    this.memory = read.memory;
    this.pending = read.pending;
    this.#pendingJson = encodePending(read.pending).json;
    this.#nextSeq = read.nextSeq;
    this.instanceId = instanceId(
      dir,
      read.instanceId,
      { file: this.file, batches: this.#live.size },
      this.#log,
      this.#metrics,
    );
    this.recovered = [...this.#live].map(([seq, frame]) => ({ seq, frame }));
    const events = this.recovered.reduce((n, b) => n + (read.events.get(b.seq) ?? 0), 0);
    this.#metrics.replayed.inc(this.recovered.length);
    this.#compact();
    const heldOccurrences = this.pending.held.reduce((n, h) => n + h.held, 0);
    if (this.recovered.length > 0 || this.memory.size > 0 || this.#pendingJson !== "") {
      this.#log.info(
        {
          instanceId: this.instanceId,
          batches: this.recovered.length,
          events,
          nextSeq: this.#nextSeq,
          remembered: this.memory.size,
          heldCounts: this.pending.held.length,
          heldOccurrences,
          queued: this.pending.queued.length,
        },
        `spool replayed: ${this.recovered.length} unacknowledged batches (${events} events) will be resent first; ${this.pending.held.length} counts dedup held (${heldOccurrences} occurrences) and ${this.pending.queued.length} queued events are put back; ${this.memory.size} reported occurrences, OOM counters and open throttling episodes remembered`,
      );
    }
  }

  /** The sequence number the link gives its next batch. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /**
   * Writes the batch (and fsyncs) before it is sent; remembers what its events report. What is
   * still pending after its events left dedup and the outbox goes in the same write.
   */
  append(seq: number, frame: Uint8Array, events: readonly WireEvent[]): void {
    this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
    this.memory.fold(events);
    this.#live.set(seq, frame);
    this.#liveBytes += frame.length;
    while (this.#liveBytes > this.#maxBytes && this.#live.size > 1) this.#evictOldest();
    const pending = this.#pendingRecord();
    if (this.#file.rewriteDue) this.#compact();
    else {
      const batch = encodeRecord(RecordType.batch, seqPayload(seq, frame));
      this.#write(pending ? Buffer.concat([batch, pending]) : batch, true);
    }
    this.#maybeCompact();
  }

  /**
   * Where the pending state comes from (dedup's held counts and the outbox's queued events);
   * set once the agent put back `pending`.
   */
  keepPending(source: () => PendingState): void {
    this.#pendingSource = source;
  }

  /**
   * Writes (and fsyncs) the pending state if it changed since it was last written; the agent
   * calls it once per flush interval. True when it wrote.
   */
  persistPending(): boolean {
    const pending = this.#pendingRecord();
    if (!pending) return false;
    if (this.#file.rewriteDue) this.#compact();
    else this.#write(pending, true);
    this.#maybeCompact();
    return true;
  }

  /** A PENDING record of the current state, or undefined when the newest one on disk says the same. */
  #pendingRecord(): Buffer | undefined {
    if (!this.#pendingSource) return undefined;
    const { json, left } = encodePending(this.#pendingSource());
    if (left > 0) {
      const now = Date.now();
      if (now - this.#lastPendingLogMs >= 30_000) {
        this.#lastPendingLogMs = now;
        this.#log.warn(
          { file: this.file, notKept: left },
          `spool ${this.file}: ${left} held counts or queued events do not fit the 1 MiB pending record and would not survive an agent crash (they are still sent); the aggregator is unreachable or a storm of distinct keys is under way`,
        );
      }
    }
    if (json === this.#pendingJson) return undefined;
    this.#pendingJson = json;
    return encodeRecord(RecordType.pending, Buffer.from(json));
  }

  /** The batch was acknowledged or refused for good: not to be replayed. */
  settle(seq: number): void {
    const frame = this.#live.get(seq);
    if (!frame) return;
    this.#live.delete(seq);
    this.#liveBytes -= frame.length;
    this.#write(encodeRecord(RecordType.settle, seqPayload(seq)), false);
    this.#maybeCompact();
  }

  close(): void {
    if (!this.#file.isOpen) return;
    const pending = this.#pendingRecord();
    if (pending) this.#write(pending, false);
    this.#file.close();
  }

  #evictOldest(): void {
    const oldest = this.#live.keys().next().value as number;
    this.#evict(oldest);
    this.#write(encodeRecord(RecordType.settle, seqPayload(oldest)), false);
  }

  #evict(seq: number): void {
    const frame = this.#live.get(seq);
    if (!frame) return;
    this.#live.delete(seq);
    this.#liveBytes -= frame.length;
    this.#metrics.evicted.inc();
    const now = Date.now();
    if (now - this.#lastEvictLogMs < 30_000) return;
    this.#lastEvictLogMs = now;
    this.#log.warn(
      { file: this.file, seq, maxBytes: this.#maxBytes, batches: this.#live.size },
      `spool full (SPOOL_MAX_BYTES=${this.#maxBytes}): batch ${seq}, the oldest unacknowledged, no longer survives a restart (it is still sent); the aggregator is not keeping up or unreachable`,
    );
  }

  #maybeCompact(): void {
    const bytes = this.#file.bytes;
    if (bytes > COMPACT_MIN_BYTES && bytes > 2 * this.#liveBytes) this.#compact();
  }

  /** Rewrites the file as snapshot + unsettled batches (atomically: file.ts). */
  #compact(): void {
    const snapshot: Snapshot = {
      version: 1,
      instanceId: this.instanceId,
      nextSeq: this.#nextSeq,
      memory: this.memory.toJSON(),
    };
    const parts = [encodeRecord(RecordType.snapshot, Buffer.from(JSON.stringify(snapshot)))];
    for (const [seq, frame] of this.#live) parts.push(encodeRecord(RecordType.batch, seqPayload(seq, frame)));
    if (this.#pendingJson !== "")
      parts.push(encodeRecord(RecordType.pending, Buffer.from(this.#pendingJson)));
    this.#file.rewrite(Buffer.concat(parts));
    this.#metrics.batches.set(this.#live.size);
  }

  #write(record: Buffer, sync: boolean): void {
    this.#file.append(record, sync);
    this.#metrics.batches.set(this.#live.size);
  }
}
