// The frames the agent sends: Hello, and Batch. Each event is encoded exactly once and those bytes serve both the
// Batch and the audit hash; protobuf's length-delimited encoding is plain concatenation, so the
// frame is assembled by hand and is byte-for-byte what encodeEnvelope({batch}) produces for
// the same batch (tested with random events).
//
// An event's encoding is its id field, its pod field, then the rest (the generated encoder
// writes fields by number). The pod is encoded once per PodRef object per batch (the pod watch
// builds one ref per pod change, shared by every event about the pod) and spliced between the
// id and the rest. With `podTable`, each pod's full ref goes once into Batch.pods and events
// carry only {uid, node}; an event whose uid is already in the table with a different ref
// (labels changed within the batch) keeps its full ref. The audit hash is always the SHA-256
// of the event's full encoding, wire.Event.encode(event), whichever form went on the wire.
import { createHash } from "node:crypto";
import $protobuf from "protobufjs/minimal.js";
import {
  CAPABILITY_BATCH_POD_TABLE,
  encodeEnvelope,
  type PodRef,
  PROTOCOL_VERSION,
  type WireEvent,
  wire,
} from "../../shared/proto.ts";
import type { HelloInit } from "./ports.ts";

/**
 * The Hello that opens every connection: what the agent says about itself, batch-pod-table
 * among its capabilities, its instance id (the link's when the agent gives none) and the
 * highest sequence number acknowledged so far (the resume point).
 */
export function helloFrame(hello: HelloInit, instanceId: string, lastAckedSeq: number): Uint8Array {
  return encodeEnvelope({
    hello: {
      ...hello,
      capabilities: hello.capabilities.includes(CAPABILITY_BATCH_POD_TABLE)
        ? hello.capabilities
        : [...hello.capabilities, CAPABILITY_BATCH_POD_TABLE],
      instanceId: hello.instanceId || instanceId,
      protocolVersion: PROTOCOL_VERSION,
      lastAckedSeq,
    },
  });
}

// Field tags (field number << 3 | wire type): Envelope.batch = 2 (length-delimited);
// Batch.seq = 1 (varint), Batch.events = 2 (len.), Batch.sent_at_ms = 3 (varint),
// Batch.pods = 4 (len.); Event.id = 1 (len.), Event.pod = 2 (len.).
const TAG_ENVELOPE_BATCH = (2 << 3) | 2;
const TAG_SEQ = (1 << 3) | 0;
const TAG_EVENTS = (2 << 3) | 2;
const TAG_SENT_AT = (3 << 3) | 0;
const TAG_PODS = (4 << 3) | 2;
const TAG_EVENT_ID = (1 << 3) | 2;
const TAG_EVENT_POD = (2 << 3) | 2;

export interface EncodedBatch {
  /** One Envelope{batch} frame. */
  frame: Uint8Array;
  /** Per event, in order: SHA-256 (hex) of wire.Event.encode(event). */
  sha256: string[];
  /** Pods in Batch.pods (0 without podTable). */
  tablePods: number;
}

/** The Event.pod field (tag, length, PodRef) of a ref. */
const podField = (pod: PodRef): Uint8Array =>
  $protobuf.Writer.create().uint32(TAG_EVENT_POD).bytes(wire.PodRef.encode(pod).finish()).finish();

/** End of the id field at the start of an event encoded without its pod (0 when id is empty). */
function idEnd(rest: Uint8Array): number {
  if (rest[0] !== TAG_EVENT_ID) return 0;
  const reader = $protobuf.Reader.create(rest);
  reader.uint32(); // the tag
  const len = reader.uint32();
  return reader.pos + len;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && Buffer.compare(a, b) === 0;

export function encodeBatchFrame(
  seq: number,
  events: readonly WireEvent[],
  sentAtMs: number,
  options: { podTable?: boolean } = {},
): EncodedBatch {
  const batch = $protobuf.Writer.create();
  const sha256: string[] = new Array(events.length);
  const fields = new Map<PodRef, Uint8Array>();
  /** uid → its table entry's Event.pod field (the full ref) and the uid-only field. */
  const table = new Map<string, { full: Uint8Array; slim: Uint8Array }>();
  // proto3 leaves zero scalars out, as the generated encoder does.
  if (seq !== 0) batch.uint32(TAG_SEQ).uint64(seq);
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as WireEvent;
    const pod = event.pod;
    if (!pod) {
      const bytes = wire.Event.encode(event).finish();
      sha256[i] = createHash("sha256").update(bytes).digest("hex");
      batch.uint32(TAG_EVENTS).bytes(bytes);
      continue;
    }
    let full = fields.get(pod);
    if (!full) {
      full = podField(pod);
      fields.set(pod, full);
    }
    const rest = wire.Event.encode({ ...event, pod: null }).finish();
    const split = idEnd(rest);
    const head = rest.subarray(0, split);
    const tail = rest.subarray(split);
    sha256[i] = createHash("sha256").update(head).update(full).update(tail).digest("hex");
    let onWire = full;
    const uid = pod.uid ?? "";
    if (options.podTable && uid !== "") {
      let listed = table.get(uid);
      if (!listed) {
        listed = { full, slim: podField({ uid, node: pod.node ?? "" }) };
        table.set(uid, listed);
      }
      if (listed.full === full || sameBytes(listed.full, full)) onWire = listed.slim;
    }
    batch
      .uint32(TAG_EVENTS)
      .uint32(head.length + onWire.length + tail.length)
      .raw(head)
      .raw(onWire)
      .raw(tail);
  }
  if (sentAtMs !== 0) batch.uint32(TAG_SENT_AT).uint64(sentAtMs);
  // A table entry is the PodRef bytes of the Event.pod field under Batch.pods' tag (both 1 byte).
  for (const { full } of table.values()) batch.uint32(TAG_PODS).raw(full.subarray(1));
  const frame = $protobuf.Writer.create().uint32(TAG_ENVELOPE_BATCH).bytes(batch.finish()).finish();
  return { frame, sha256, tablePods: table.size };
}
