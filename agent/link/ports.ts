// What the link needs from its neighbours, and its constants. The real Outbox
// (agent/queue/outbox.ts) satisfies OutboxPort; tests use small in-memory ones.
import type { Backoff } from "../../shared/backoff.ts";
import type { Clock } from "../../shared/clock.ts";
import { ERRORS } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import type { ConfigFrame, WireEvent } from "../../shared/proto.ts";
import type { LinkMetrics } from "./metrics.ts";

export interface OutboxPort {
  /** Up to `max` events, oldest first, removed from the queue. */
  take(max: number): WireEvent[];
  readonly size: number;
  /** Called when a batch is ready to go (full, flush interval elapsed, or the line was idle). */
  onReady(listener: () => void): void;
}

/** What the agent says about itself in Hello (the link adds protocol version and resume point). */
export interface HelloInit {
  node: string;
  cluster: string;
  agentVersion: string;
  capabilities: string[];
  /** Remote config version applied ("" = built-in defaults). */
  configVersion: string;
  cgroupLayout: string;
  /**
   * This agent's id, the same for the link's whole life (its batch sequence numbers count up
   * under it); the journal's persisted id when there is one, else the link makes a random UUID.
   */
  instanceId?: string;
}

/**
 * Where batches are kept across restarts (agent/spool). The link appends each batch before
 * sending it and settles it when acked or refused for good; a batch left unacked at shutdown
 * stays. Batches it hands back (`recovered`) are resent first, under `instanceId` and their
 * own sequence numbers, so the aggregator's ledger recognises any it already counted.
 */
export interface BatchJournal {
  readonly instanceId: string;
  readonly nextSeq: number;
  readonly recovered: readonly { seq: number; frame: Uint8Array }[];
  append(seq: number, frame: Uint8Array, events: readonly WireEvent[]): void;
  settle(seq: number): void;
  /** Where it lives, for log lines. */
  readonly file: string;
}

export interface LinkSettings {
  heartbeatIntervalMs: number;
  maxUnackedBatches: number;
  maxBatchEvents: number;
}

/** Socket buffer level above which the link waits for writes to drain. */
export const HIGH_WATER_BYTES = 1 << 20;
/** Rejects that refuse the batch itself: resending it would fail again. */
export const NON_RETRYABLE = new Set([
  "KG_NODE_MISMATCH",
  "KG_BATCH_TOO_MANY_EVENTS",
  "KG_FRAME_TOO_LARGE",
  "KG_FRAME_MALFORMED",
  "KG_EVENT_INVALID",
]);

/** How long the aggregator may take to close after a Reject before the agent closes itself. */
export const REJECT_CLOSE_GRACE_MS = 15_000;

export const hintOf = (code: string): string | undefined =>
  (ERRORS as Record<string, { hint: string }>)[code]?.hint;

export interface AgentLinkDeps {
  url: string;
  /** Re-read on every connect (projected tokens rotate). */
  token: () => Promise<string> | string;
  caFile?: string;
  outbox: OutboxPort;
  hello: () => HelloInit;
  onConfig: (frame: ConfigFrame) => void;
  clock: Clock;
  log: Logger;
  metrics: LinkMetrics;
  settings: LinkSettings;
  /** Reconnect backoff; defaults to 1 s → 30 s, equal jitter. */
  backoff?: Backoff;
  /** Keeps batches across agent restarts; without it, unacked batches live in memory only. */
  journal?: BatchJournal;
}
