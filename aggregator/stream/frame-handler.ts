// The per-connection protocol state machine, free of sockets so it can be fuzzed by the
// thousand: bytes in, one outcome out. A connection starts in "hello" (the first frame must
// be Hello), moves to "streaming", and ends in "rejected" after the first refused frame —
// from then on every frame is ignored while the connection closes.
//
// Checks, in order: binary, size, decodes, frame type allowed in this state, then for a
// batch: events per batch, its pod table (Batch.pods: entries on the connection's node, each
// uid once, every uid-only event's uid listed — the events get their full pod from it here,
// so nothing after the frame handler knows tables exist), each event well formed (id, pod
// with node), each event about a pod on the connection's node, every field of every event
// within what a real agent sends (event-limits.ts), and the per-connection rate.

import $protobuf from "protobufjs/minimal.js";
import type { kernelgossip } from "../../proto/gen/kernel_gossip.js";
import type { Clock } from "../../shared/clock.ts";
import type { ErrorCode } from "../../shared/errors.ts";
import { decodeEnvelope, type Envelope, fillFromPodTable, PROTOCOL_VERSION } from "../../shared/proto.ts";
import { TokenBucket } from "../../shared/token-bucket.ts";
import { checkEvent } from "./check-event.ts";

type Hello = kernelgossip.v1.Hello.$Properties;
type Batch = kernelgossip.v1.Batch.$Properties;
/** Decoded events are instances of the generated class (proto3 defaults on the prototype). */
export type DecodedEvent = kernelgossip.v1.Event;

export interface FrameLimits {
  maxPayloadBytes: number;
  maxBatchEvents: number;
  maxEventsPerSecond: number;
}

/** Hello.instance_id: "" (old agents) or a short token (the agent sends a UUID). */
const INSTANCE_ID = /^[A-Za-z0-9._-]{0,64}$/;

/** Seconds' worth of events a connection may send in one burst (see --max-events-per-second). */
export const RATE_BURST_SECONDS = 4;

export type FrameOutcome =
  | { kind: "hello"; hello: Hello; node: string }
  | { kind: "batch"; seq: number; events: DecodedEvent[] }
  | { kind: "reject"; code: ErrorCode; detail: string; seq?: number; field?: string }
  | { kind: "ignored" };

type State = "hello" | "streaming" | "rejected";

const bodyOf = (envelope: Envelope): string => envelope.body ?? "none";

export class FrameHandler {
  #state: State = "hello";
  #node: string | undefined;
  #limits: FrameLimits;
  #bucket: TokenBucket;
  #clock: Clock;

  /** boundNode: the node the token binds this connection to; undefined trusts Hello.node. */
  constructor(options: { boundNode?: string; limits: FrameLimits; clock: Clock }) {
    this.#node = options.boundNode;
    this.#limits = options.limits;
    this.#clock = options.clock;
    const rate = options.limits.maxEventsPerSecond;
    this.#bucket = new TokenBucket({ rate, burst: rate * RATE_BURST_SECONDS, clock: options.clock });
  }

  /** The node this connection speaks for (after Hello). */
  get node(): string | undefined {
    return this.#state === "hello" ? undefined : this.#node;
  }

  get rejected(): boolean {
    return this.#state === "rejected";
  }

  handle(data: Uint8Array, isBinary: boolean): FrameOutcome {
    if (this.#state === "rejected") return { kind: "ignored" };
    if (!isBinary) return this.#reject("KG_FRAME_NOT_BINARY", `text frame of ${data.length} bytes`);
    if (data.length > this.#limits.maxPayloadBytes) {
      const seq = peekBatchSeq(data);
      return this.#reject(
        "KG_FRAME_TOO_LARGE",
        `${seq === undefined ? "frame" : `batch ${seq}`} of ${data.length} bytes, limit ${this.#limits.maxPayloadBytes} bytes`,
        seq,
      );
    }
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(data);
    } catch (err) {
      return this.#reject("KG_FRAME_MALFORMED", `${data.length} bytes: ${(err as Error).message}`);
    }
    if (this.#state === "hello") {
      if (envelope.body !== "hello" || !envelope.hello) {
        return this.#reject("KG_FRAME_UNEXPECTED", `first frame must be Hello, got ${bodyOf(envelope)}`);
      }
      return this.#hello(envelope.hello);
    }
    if (envelope.body !== "batch" || !envelope.batch) {
      return this.#reject(
        "KG_FRAME_UNEXPECTED",
        `agents send only Batch after Hello, got ${bodyOf(envelope)}${envelope.body ? "" : " (unknown or empty frame type)"}`,
      );
    }
    return this.#batch(envelope.batch);
  }

  #hello(hello: Hello): FrameOutcome {
    const protocol = hello.protocolVersion ?? 0;
    const node = hello.node ?? "";
    if (protocol > PROTOCOL_VERSION) {
      return this.#reject(
        "KG_PROTOCOL_UNSUPPORTED",
        `agent speaks protocol ${protocol}, this aggregator at most ${PROTOCOL_VERSION}`,
      );
    }
    if (node === "") return this.#reject("KG_FRAME_MALFORMED", "Hello without a node name");
    const instance = hello.instanceId ?? "";
    if (!INSTANCE_ID.test(instance)) {
      return this.#reject(
        "KG_FRAME_MALFORMED",
        `Hello instance_id must be up to 64 letters, digits, '-', '_' or '.', got ${JSON.stringify(instance.slice(0, 80))}`,
      );
    }
    if (this.#node !== undefined && node !== this.#node) {
      return this.#reject(
        "KG_NODE_MISMATCH",
        `Hello says node "${node}" but the token is bound to node "${this.#node}"`,
      );
    }
    this.#node = node;
    this.#state = "streaming";
    return { kind: "hello", hello, node };
  }

  #batch(batch: Batch): FrameOutcome {
    const seq = batch.seq ?? 0;
    const events = (batch.events ?? []) as DecodedEvent[];
    if (!Number.isSafeInteger(seq) || seq <= 0) {
      return this.#reject("KG_FRAME_MALFORMED", `batch sequence number ${seq} is not a positive integer`);
    }
    if (events.length > this.#limits.maxBatchEvents) {
      return this.#reject(
        "KG_BATCH_TOO_MANY_EVENTS",
        `batch ${seq} holds ${events.length} events, limit ${this.#limits.maxBatchEvents}`,
        seq,
      );
    }
    const pods = batch.pods ?? [];
    if (pods.length > 0) {
      if (pods.length > this.#limits.maxBatchEvents) {
        return this.#reject(
          "KG_BATCH_TOO_MANY_EVENTS",
          `batch ${seq} lists ${pods.length} pods in its pod table, limit ${this.#limits.maxBatchEvents}`,
          seq,
        );
      }
      const away = pods.find((p) => p.node !== this.#node);
      if (away) {
        return this.#reject(
          "KG_NODE_MISMATCH",
          `batch ${seq} pod table lists pod ${away.namespace}/${away.name} on node "${away.node ?? ""}", connection is bound to node "${this.#node}"`,
          seq,
        );
      }
      const problem = fillFromPodTable(pods, events);
      if (problem) return this.#reject("KG_FRAME_MALFORMED", `batch ${seq}: ${problem}`, seq);
    }
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as DecodedEvent;
      if (event.id === "" || !event.pod || event.pod.node === "") {
        return this.#reject(
          "KG_FRAME_MALFORMED",
          `batch ${seq} event #${i} lacks ${event.id === "" ? "an id" : "its pod's node"}`,
          seq,
        );
      }
      if (event.pod.node !== this.#node) {
        return this.#reject(
          "KG_NODE_MISMATCH",
          `batch ${seq} event ${event.id} is about pod ${event.pod.namespace}/${event.pod.name} on node "${event.pod.node}", connection is bound to node "${this.#node}"`,
          seq,
        );
      }
    }
    const now = this.#clock.now();
    // With a pod table, events about one pod share its ref: each ref is checked once.
    const podsPassed = pods.length > 0 ? new Set<NonNullable<DecodedEvent["pod"]>>() : undefined;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as DecodedEvent;
      const problem = checkEvent(event, now, podsPassed);
      if (problem) {
        return this.#reject(
          "KG_EVENT_INVALID",
          `batch ${seq} event ${JSON.stringify(event.id.slice(0, 200))}: ${problem.detail}`,
          seq,
          problem.field,
        );
      }
    }
    if (!this.#bucket.tryTake(events.length)) {
      return this.#reject(
        "KG_RATE_LIMITED",
        `batch ${seq} of ${events.length} events exceeds ${this.#limits.maxEventsPerSecond} events/s (burst ${this.#bucket.burst})`,
        seq,
      );
    }
    return { kind: "batch", seq, events };
  }

  #reject(code: ErrorCode, detail: string, seq?: number, field?: string): FrameOutcome {
    this.#state = "rejected";
    const outcome: FrameOutcome = { kind: "reject", code, detail };
    if (seq !== undefined) outcome.seq = seq;
    if (field !== undefined) outcome.field = field;
    return outcome;
  }
}

/**
 * The sequence number of a Batch frame without decoding it: Envelope field 2 (batch, length
 * delimited), then Batch field 1 (seq, varint) — the order protobuf encoders write. Lets an
 * oversized batch be refused by number so the agent drops exactly that one.
 */
export function peekBatchSeq(data: Uint8Array): number | undefined {
  const reader = $protobuf.Reader.create(data);
  try {
    if (reader.uint32() !== ((2 << 3) | 2)) return undefined;
    reader.uint32(); // the batch's length
    if (reader.uint32() !== ((1 << 3) | 0)) return undefined;
    // A number, not a Long (shared/proto-runtime.ts); beyond 2^53 it is inexact, so refused.
    const seq = reader.uint64() as unknown as number;
    return seq > 0 && Number.isSafeInteger(seq) ? seq : undefined;
  } catch {
    return undefined; // cut short: the reader ran past the end
  }
}
