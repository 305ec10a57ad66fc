// What the link needs from its neighbours, and its constants. The real Outbox
// (agent/queue/outbox.ts) satisfies OutboxPort; tests use small in-memory ones.
import type { Backoff } from "../../shared/backoff.ts";
import type { Clock } from "../../shared/clock.ts";
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
