// The spool's on-disk record: a fixed 13-byte header, then the payload.
//
//   offset 0  4 bytes  magic "KGS1"  (lets a reader find the next record after a damaged one)
//          4  u32 LE   payload length
//          8  u32 LE   CRC-32 of the type byte and the payload
//         12  u8       type (SNAPSHOT, BATCH, SETTLE, PENDING)
//         13  …        payload
//
// A record is trusted only whole and with a matching checksum. A reader that meets anything
// else (a torn tail after a crash, a flipped byte) skips forward to the next magic and counts
// the bytes it skipped as one damaged stretch.
import { crc32 } from "node:zlib";

export const MAGIC = Buffer.from("KGS1", "latin1");
const HEADER_BYTES = 13;
/** Larger than any batch frame the link may send (the aggregator's maxPayload is far below). */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

export const RecordType = {
  /** JSON: the spool's memory (what was reported) and the next sequence number, at compaction. */
  snapshot: 1,
  /** u64 LE seq, then the batch's Envelope bytes exactly as sent. */
  batch: 2,
  /** u64 LE seq: acknowledged, refused for good or evicted — not to be replayed. */
  settle: 3,
  /**
   * JSON: what dedup holds and the outbox queues (counts not yet in a spooled batch), whole;
   * the newest one in the file wins (pending.ts).
   */
  pending: 4,
} as const;
export type RecordKind = (typeof RecordType)[keyof typeof RecordType];

export interface SpoolRecord {
  type: RecordKind;
  payload: Buffer;
  /** Offset of the record's first byte in the file. */
  offset: number;
}

export function encodeRecord(type: RecordKind, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(payload.length, 4);
  out[12] = type;
  out.set(payload, HEADER_BYTES);
  out.writeUInt32LE(crc32(out.subarray(12)), 8);
  return out;
}

export function seqPayload(seq: number, rest?: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(8 + (rest?.length ?? 0));
  out.writeBigUInt64LE(BigInt(seq), 0);
  if (rest) out.set(rest, 8);
  return out;
}

export function readSeq(payload: Buffer): number {
  return Number(payload.readBigUInt64LE(0));
}

export interface Damage {
  /** Where the unreadable stretch starts. */
  offset: number;
  bytes: number;
  /** "torn" when it runs to the end of the file (a write cut short), else "corrupt". */
  kind: "torn" | "corrupt";
}

/** Every whole, checksummed record of `data` in order, and the stretches that were not. */
export function readRecords(data: Buffer): { records: SpoolRecord[]; damage: Damage[] } {
  const records: SpoolRecord[] = [];
  const damage: Damage[] = [];
  let at = 0;
  let badFrom: number | undefined;
  const closeDamage = (end: number) => {
    if (badFrom === undefined) return;
    damage.push({ offset: badFrom, bytes: end - badFrom, kind: end >= data.length ? "torn" : "corrupt" });
    badFrom = undefined;
  };
  while (at < data.length) {
    const record = recordAt(data, at);
    if (record) {
      closeDamage(at);
      records.push(record);
      at += HEADER_BYTES + record.payload.length;
      continue;
    }
    badFrom ??= at;
    const next = data.indexOf(MAGIC, at + 1);
    at = next < 0 ? data.length : next;
  }
  closeDamage(data.length);
  return { records, damage };
}

function recordAt(data: Buffer, at: number): SpoolRecord | undefined {
  if (data.length - at < HEADER_BYTES || data.compare(MAGIC, 0, 4, at, at + 4) !== 0) return undefined;
  const length = data.readUInt32LE(at + 4);
  if (length > MAX_PAYLOAD_BYTES || at + HEADER_BYTES + length > data.length) return undefined;
  const type = data[at + 12] as number;
  if (
    type !== RecordType.snapshot &&
    type !== RecordType.batch &&
    type !== RecordType.settle &&
    type !== RecordType.pending
  )
    return undefined;
  if (crc32(data.subarray(at + 12, at + HEADER_BYTES + length)) !== data.readUInt32LE(at + 8))
    return undefined;
  if ((type === RecordType.batch || type === RecordType.settle) && length < 8) return undefined;
  return {
    type: type as RecordKind,
    payload: data.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length),
    offset: at,
  };
}
