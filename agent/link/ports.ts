// What the link needs from its neighbours. The real Outbox (agent/queue/outbox.ts) satisfies
// OutboxPort; tests use small in-memory ones.
import type { WireEvent } from "../../shared/proto.ts";

export interface OutboxPort {
  push(event: WireEvent): void;
  /** Up to `max` events, oldest first, removed from the queue. */
  take(max: number): WireEvent[];
  readonly size: number;
  readonly bytes: number;
  /** Called when a batch is ready to go (full, flush interval elapsed, or the line was idle). */
  onReady(listener: () => void): void;
  /** Returns taken events to the front of the queue. */
  putBack(events: WireEvent[]): void;
  configure(settings: { maxBatchEvents: number; flushIntervalMs: number }): void;
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
}

export interface LinkSettings {
  heartbeatIntervalMs: number;
  maxUnackedBatches: number;
  maxBatchEvents: number;
}
