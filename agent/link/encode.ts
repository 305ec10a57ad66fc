// The batch frame encoder: each event is encoded exactly once, its bytes hashed for the audit
// line and reused as the Batch's repeated field. Protobuf's length-delimited encoding is plain
// concatenation, so the frame is assembled by hand around the already-encoded events and is
// byte-for-byte what encodeEnvelope({batch}) would produce (tested with random events).
import { createHash } from "node:crypto";
import $protobuf from "protobufjs/minimal.js";
import { type WireEvent, wire } from "../../shared/proto.ts";

// Field tags (field number << 3 | wire type): Envelope.batch = 2 (length-delimited);
// Batch.seq = 1 (varint), Batch.events = 2 (length-delimited), Batch.sent_at_ms = 3 (varint).
const TAG_ENVELOPE_BATCH = (2 << 3) | 2;
const TAG_SEQ = (1 << 3) | 0;
const TAG_EVENTS = (2 << 3) | 2;
const TAG_SENT_AT = (3 << 3) | 0;

export interface EncodedBatch {
  /** One Envelope{batch} frame. */
  frame: Uint8Array;
  /** Per event, in order: SHA-256 (hex) of its encoded payload (wire.Event.encode(event)). */
  sha256: string[];
}

export function encodeBatchFrame(seq: number, events: readonly WireEvent[], sentAtMs: number): EncodedBatch {
  const batch = $protobuf.Writer.create();
  const sha256: string[] = new Array(events.length);
  // proto3 leaves zero scalars out, as the generated encoder does.
  if (seq !== 0) batch.uint32(TAG_SEQ).uint64(seq);
  for (let i = 0; i < events.length; i++) {
    const bytes = wire.Event.encode(events[i] as WireEvent).finish();
    sha256[i] = createHash("sha256").update(bytes).digest("hex");
    batch.uint32(TAG_EVENTS).bytes(bytes);
  }
  if (sentAtMs !== 0) batch.uint32(TAG_SENT_AT).uint64(sentAtMs);
  const frame = $protobuf.Writer.create().uint32(TAG_ENVELOPE_BATCH).bytes(batch.finish()).finish();
  return { frame, sha256 };
}
