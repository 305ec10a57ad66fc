// The node's crash-safe spool: every batch the link opens is appended here (with a checksum,
// fsync'd) before it is sent, and settled when the aggregator acknowledges it (or refuses it
// for good). A restarted agent reads the file back and resends the unsettled batches first,
// in sequence order, under the same agent instance id and the same sequence numbers, so the
// aggregator's delivery ledger (ADR 0008) counts each of them exactly once.
// docs/adr/0013-counting-across-agent-restarts.md explains the choices.
//
// Files, in `<dir>/<node>/` (one directory per node name, so agents never share one):
//   instance   this node's agent instance id (Hello.instance_id), created once
//   spool.log  records (record.ts): a SNAPSHOT first, then BATCH, SETTLE and PENDING records
//              appended; the newest PENDING record is what dedup held and the outbox queued
//              (pending.ts), put back by the restarted agent
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
import { randomUUID } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../shared/log.ts";
import type { WireEvent } from "../../shared/proto.ts";
import type { SpoolMemory } from "./memory.ts";
import type { SpoolMetrics } from "./metrics.ts";
import { encodePending, type PendingState } from "./pending.ts";
import { encodeRecord, RecordType, seqPayload } from "./record.ts";
import { replaySpool, type Snapshot } from "./replay.ts";

export { episodeKey, type OpenEpisode, SpoolMemory } from "./memory.ts";
export { createSpoolMetrics, type SpoolMetrics } from "./metrics.ts";
export { type HeldCount, keptWhileQueued, type PendingState } from "./pending.ts";
export { SEQ_JUMP_AFTER_DAMAGE } from "./replay.ts";

export const COMPACT_MIN_BYTES = 4 * 1024 * 1024;
/** Ledger-compatible instance ids: letters, digits, '-', '_', '.' (ADR 0008). */
const INSTANCE_ID = /^[A-Za-z0-9._-]{1,64}$/;

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
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #log: Logger;
  readonly #metrics: SpoolMetrics;
  /** Unsettled batches in seq order (a Map keeps insertion order; seqs only grow). */
  readonly #live: Map<number, Uint8Array>;
  #liveBytes = 0;
  #fd: number;
  #fileBytes = 0;
  #compactDue = false;
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
    this.#dir = dir;
    this.#maxBytes = options.maxBytes;
    this.#log = deps.log.child({ component: "spool", spool: dir });
    this.#metrics = deps.metrics;
    this.file = join(dir, "spool.log");
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
    this.instanceId = this.#instance(read.instanceId);
    this.recovered = [...this.#live].map(([seq, frame]) => ({ seq, frame }));
    const events = this.recovered.reduce((n, b) => n + (read.events.get(b.seq) ?? 0), 0);
    this.#metrics.replayed.inc(this.recovered.length);
    this.#fd = -1;
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
    if (this.#compactDue) this.#compact();
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
    if (this.#compactDue) this.#compact();
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

  get batches(): number {
    return this.#live.size;
  }

  close(): void {
    if (this.#fd < 0) return;
    const pending = this.#pendingRecord();
    if (pending) this.#write(pending, false);
    try {
      fsyncSync(this.#fd);
      this.#metrics.fsyncs.inc();
    } catch (err) {
      this.#writeFailed(err);
    }
    closeSync(this.#fd);
    this.#fd = -1;
  }

  /** The instance file wins; then the snapshot's; else a new id, written before any batch. */
  #instance(fromSnapshot: string | undefined): string {
    const path = join(this.#dir, "instance");
    let id: string | undefined;
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8").trim();
      if (INSTANCE_ID.test(text)) id = text;
      else
        this.#log.warn(
          { file: path },
          `spool instance file ${path} is unreadable; using the spool's own copy`,
        );
    }
    id ??= fromSnapshot !== undefined && INSTANCE_ID.test(fromSnapshot) ? fromSnapshot : undefined;
    if (id === undefined) {
      id = randomUUID();
      if (this.#live.size > 0) {
        this.#log.warn(
          { file: path, batches: this.#live.size },
          `spool ${this.file} holds batches but its instance id is lost: they are resent under a new id, and events the aggregator already counted may be counted again`,
        );
      }
    }
    this.#atomicWrite(path, `${id}\n`);
    return id;
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
    if (this.#fileBytes > COMPACT_MIN_BYTES && this.#fileBytes > 2 * this.#liveBytes) this.#compact();
  }

  /** Rewrites the file as snapshot + unsettled batches: temporary file, fsync, rename, fsync dir. */
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
    const data = Buffer.concat(parts);
    try {
      this.#atomicWrite(this.file, data);
      if (this.#fd >= 0) closeSync(this.#fd);
      this.#fd = openSync(this.file, "a", 0o600);
      this.#fileBytes = statSync(this.file).size;
      this.#compactDue = false;
    } catch (err) {
      this.#writeFailed(err);
      this.#compactDue = true;
      if (this.#fd < 0) {
        try {
          this.#fd = openSync(this.file, "a", 0o600);
        } catch {
          // Still unusable: the next append tries to compact again.
        }
      }
    }
    this.#metrics.fileBytes.set(this.#fileBytes);
    this.#metrics.batches.set(this.#live.size);
  }

  #atomicWrite(path: string, data: string | Buffer): void {
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, data, { mode: 0o600 });
    const fd = openSync(tmp, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dirFd = openSync(this.#dir, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.#metrics.fsyncs.inc(2);
    this.#metrics.writtenBytes.inc(Buffer.byteLength(data));
  }

  #write(record: Buffer, sync: boolean): void {
    if (this.#fd < 0) {
      this.#compactDue = true;
      return;
    }
    try {
      let done = 0;
      while (done < record.length) done += writeSync(this.#fd, record, done);
      this.#fileBytes += record.length;
      this.#metrics.writtenBytes.inc(record.length);
      if (sync) {
        fsyncSync(this.#fd);
        this.#metrics.fsyncs.inc();
      }
    } catch (err) {
      this.#writeFailed(err);
      // A partial record may be on disk: rewrite the whole file at the next append.
      this.#compactDue = true;
    }
    this.#metrics.fileBytes.set(this.#fileBytes);
    this.#metrics.batches.set(this.#live.size);
  }

  #writeFailed(err: unknown): void {
    this.#metrics.writeErrors.inc();
    this.#log.error(
      { err: (err as Error).message, file: this.file },
      `cannot write the spool ${this.file}: unacknowledged batches will not survive a restart until it is writable again (disk full? check the node's /var/lib)`,
    );
  }
}
