// A bench-side sketch of the agent's batch encode with each event encoded only once: the
// event bytes the audit hash needs are reused as the Batch's repeated field, framed by hand
// (protobuf's length-delimited encoding is plain concatenation). Not product code: it exists
// to show the link what the single-encode path would cost, and the case checks it produces
// exactly the bytes of encodeEnvelope.
import { createHash } from "node:crypto";
import $protobuf from "protobufjs/minimal.js";
import { type WireEvent, wire } from "../../shared/proto.ts";

// Field tags: Envelope.batch = 2 (length-delimited); Batch.seq = 1 (varint),
// Batch.events = 2 (length-delimited), Batch.sent_at_ms = 3 (varint).
const TAG_ENVELOPE_BATCH = (2 << 3) | 2;
const TAG_SEQ = (1 << 3) | 0;
const TAG_EVENTS = (2 << 3) | 2;
const TAG_SENT_AT = (3 << 3) | 0;

export function encodeBatchOnce(
  seq: number,
  events: readonly WireEvent[],
  sentAtMs: number,
): { frame: Uint8Array; audit: string[] } {
  const batch = $protobuf.Writer.create();
  const audit: string[] = [];
  if (seq !== 0) batch.uint32(TAG_SEQ).uint64(seq);
  for (const event of events) {
    const bytes = wire.Event.encode(event).finish();
    audit.push(createHash("sha256").update(bytes).digest("hex"));
    batch.uint32(TAG_EVENTS).bytes(bytes);
  }
  if (sentAtMs !== 0) batch.uint32(TAG_SENT_AT).uint64(sentAtMs);
  const frame = $protobuf.Writer.create().uint32(TAG_ENVELOPE_BATCH).bytes(batch.finish()).finish();
  return { frame, audit };
}
