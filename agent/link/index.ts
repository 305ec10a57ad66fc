// The agent's one WebSocket to the aggregator. Invariants:
//  - every batch stays in `unacked` until the aggregator acks its sequence number (acks may
//    come in any order); after a reconnect the unacked batches are resent first, oldest first,
//    byte for byte (but see pod tables below), then new batches follow;
//  - at most maxUnackedBatches are in flight: when the window is full the link stops taking
//    from the outbox, so the outbox fills to its bound and drops by its own policy;
//  - a batch carries a pod table (Batch.pods) only when the aggregator of the current
//    connection announced batch-pod-table in a Config frame; resends after a reconnect go with
//    full pod refs (re-encoded; same seq and events) since the new peer has not said so yet;
//  - the link takes from the outbox only after the outbox said a batch is ready (or while
//    stopping), and writes only while the socket's buffer is below HIGH_WATER_BYTES;
//  - a batch refused for good (node mismatch, too many events, too large, malformed) is
//    dropped and counted so one poison batch cannot loop; any other Reject or close means
//    reconnect with jittered backoff (1 s → 30 s) and resend.
// Each socket is a Connection (connection.ts: heartbeat, frames, why it closed); what is left
// at shutdown is settled by shutdown.ts.
import { randomUUID } from "node:crypto";
import { Backoff } from "../../shared/backoff.ts";
import type { Timer } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { ConfigFrame } from "../../shared/proto.ts";
import { Connection } from "./connection.ts";
import { helloFrame } from "./encode.ts";
import { type AgentLinkDeps, HIGH_WATER_BYTES, type LinkSettings } from "./ports.ts";
import { closedTooLarge, rejected } from "./refusal.ts";
import { type StopReport, settleAtShutdown } from "./shutdown.ts";
import { DeliveryWindow, recoveredBatch, withFullPodRefs } from "./unacked.ts";

export { createLinkMetrics, type LinkMetrics } from "./metrics.ts";
export {
  type AgentLinkDeps,
  type BatchJournal,
  type HelloInit,
  HIGH_WATER_BYTES,
  type LinkSettings,
  type OutboxPort,
} from "./ports.ts";
export type { StopReport } from "./shutdown.ts";

export class AgentLink {
  #deps: AgentLinkDeps;
  #settings: LinkSettings;
  #log: Logger;
  #backoff: Backoff;
  #unacked: DeliveryWindow;
  /** The current socket (connecting or open); undefined while down. */
  #conn: Connection | undefined;
  #ready = false;
  #reconnect: Timer | undefined;
  #started = false;
  #stopping = false;
  #stopped = false;
  #drained: (() => void) | undefined;
  /**
   * Names this agent's batches (Hello.instance_id): the journal's persisted id, so batches
   * resent after a restart keep their names; else one per process (seqs restart with it).
   */
  readonly instanceId: string;

  constructor(deps: AgentLinkDeps) {
    this.#deps = deps;
    this.#settings = { ...deps.settings };
    this.#log = deps.log.child({ component: "link", aggregator: deps.url });
    this.instanceId = deps.journal?.instanceId ?? randomUUID();
    this.#unacked = new DeliveryWindow({
      clock: deps.clock,
      metrics: deps.metrics,
      audit: deps.log.child({ component: "audit" }),
      journal: deps.journal,
    });
    for (const { seq, frame } of deps.journal?.recovered ?? []) {
      try {
        this.#unacked.restore(recoveredBatch(seq, frame));
      } catch (err) {
        this.#log.error(
          { err: (err as Error).message, seq, file: deps.journal?.file },
          `cannot resend spooled batch ${seq}; skipping it`,
        );
        deps.journal?.settle(seq);
      }
    }
    this.#backoff = deps.backoff ?? new Backoff();
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#deps.outbox.onReady(() => {
      this.#ready = true;
      this.#pump();
    });
    void this.#connect();
  }

  /** Readiness: the socket to the aggregator is open. */
  connected(): boolean {
    return this.#conn?.open ?? false;
  }

  /** No batch is waiting for an ack (the outbox sends at once when the line is idle). */
  isIdle(): boolean {
    return this.#unacked.size === 0;
  }

  /** Remote config may change the batch size live. */
  configure(settings: Partial<LinkSettings>): void {
    this.#settings = { ...this.#settings, ...settings };
    this.#pump();
  }

  /**
   * Flushes the outbox, waits for acks until the deadline, closes; reports what was not
   * delivered: `undelivered` at shutdown, `droppedEarlier` while running (queue overflow,
   * rejected batches), so "every event was delivered" is said only when both are 0.
   */
  async stop(deadlineMs: number): Promise<StopReport> {
    const { clock } = this.#deps;
    this.#stopping = true;
    if (this.#reconnect && deadlineMs > 0) {
      // Down and waiting out a backoff that may outlast the deadline: try once more now.
      clock.clearTimeout(this.#reconnect);
      void this.#connect();
    }
    this.#pump();
    if (!this.#isDrained() && deadlineMs > 0) {
      await new Promise<void>((resolve) => {
        const deadline = clock.setTimeout(resolve, deadlineMs);
        this.#drained = () => {
          clock.clearTimeout(deadline);
          resolve();
        };
      });
    }
    this.#stopped = true;
    this.#drained = undefined;
    if (this.#reconnect) clock.clearTimeout(this.#reconnect);
    const conn = this.#conn;
    if (conn) {
      this.#conn = undefined;
      this.#deps.metrics.connected.set(0);
      await conn.close();
    }
    return settleAtShutdown({
      unacked: this.#unacked,
      outbox: this.#deps.outbox,
      journal: this.#deps.journal,
      maxBatchEvents: this.#settings.maxBatchEvents,
      metrics: this.#deps.metrics,
      log: this.#log,
    });
  }

  async #connect(): Promise<void> {
    this.#reconnect = undefined;
    if (this.#stopped) return;
    let conn: Connection;
    try {
      conn = await Connection.dial({
        url: this.#deps.url,
        token: this.#deps.token,
        ...(this.#deps.caFile ? { caFile: this.#deps.caFile } : {}),
        clock: this.#deps.clock,
        log: this.#log,
        metrics: this.#deps.metrics,
        events: {
          open: () => this.#onOpen(conn),
          ack: (seq, dropped) => this.#onAck(seq, dropped),
          reject: (code, message, seq) => this.#onReject(conn, code, message, seq),
          config: (frame) => this.#onConfig(frame),
          writable: () => this.#pump(),
          closed: (code, reason, cause, wasOpen) => this.#onClose(conn, code, reason, cause, wasOpen),
        },
      });
    } catch (err) {
      this.#log.error(
        { err: (err as Error).message, caFile: this.#deps.caFile },
        "cannot open the link: the token or CA file is unreadable (check the projected volume and AGGREGATOR_CA_FILE); retrying",
      );
      this.#retry("credentials");
      return;
    }
    if (this.#stopped) {
      conn.abandon();
      return;
    }
    this.#conn = conn;
    conn.listen(() => this.#settings.heartbeatIntervalMs);
  }

  #onOpen(conn: Connection): void {
    this.#deps.metrics.connected.set(1);
    const hello = this.#deps.hello();
    conn.send(helloFrame(hello, this.instanceId, this.#unacked.lastAckedSeq));
    const resend = this.#unacked.inOrder();
    for (const batch of resend) {
      // Not yet known whether this aggregator reads pod tables: resend every event in full.
      try {
        withFullPodRefs(batch);
      } catch (err) {
        // Cannot happen with frames this link encoded; if it does, lose one batch, not the process.
        this.#log.error(
          { err: (err as Error).message, seq: batch.seq, events: batch.events },
          `cannot re-encode batch ${batch.seq} with full pod refs for resending; dropping its ${batch.events} events`,
        );
        this.#unacked.drop(batch, "rejected");
        continue;
      }
      this.#unacked.sent(batch);
      conn.send(batch.frame);
    }
    this.#log.info({ resent: resend.length, configVersion: hello.configVersion }, "connected to aggregator");
    this.#pump();
  }

  #onConfig(config: ConfigFrame): void {
    this.#backoff.reset();
    if (config.capabilitiesOnly) return; // announces capabilities only: settings unchanged
    try {
      this.#deps.onConfig(config);
    } catch (err) {
      this.#log.error({ err }, "applying remote config failed; keeping the previous settings");
    }
  }

  #onAck(seq: number, dropped: number): void {
    if (!this.#unacked.ack(seq)) {
      this.#log.debug({ seq }, "ack for a batch no longer pending (already acked or dropped)");
      return;
    }
    this.#backoff.reset();
    if (dropped > 0) {
      this.#log.debug(
        { seq, dropped },
        "aggregator dropped events of the batch as redeliveries or out of scope",
      );
    }
    this.#pump();
    this.#checkDrained();
  }

  #onReject(conn: Connection, code: string, message: string, seq: number): void {
    rejected(this.#unacked, { code, message, seq }, this.#deps.metrics, this.#log);
    // The aggregator closes after acking what it is still writing; send nothing more meanwhile,
    // and close ourselves only if it does not.
    conn.refuse();
    this.#checkDrained();
  }

  #onClose(conn: Connection, code: number, reason: string, cause: string, wasOpen: boolean): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    this.#deps.metrics.connected.set(0);
    if (code === 1009) closedTooLarge(this.#unacked, this.#deps.metrics, this.#log);
    if (this.#stopped) return;
    if (this.#stopping && this.#isDrained()) {
      this.#checkDrained();
      return;
    }
    this.#retry(cause, { code, reason, wasOpen });
  }

  #retry(cause: string, context: Record<string, unknown> = {}): void {
    const delayMs = this.#backoff.next();
    this.#deps.metrics.reconnects.inc({ cause });
    this.#log.warn(
      { ...context, cause, delayMs, unackedBatches: this.#unacked.size },
      `link to aggregator down (${cause}); reconnecting in ${delayMs} ms, unacked batches will be resent`,
    );
    this.#reconnect = this.#deps.clock.setTimeout(() => void this.#connect(), delayMs);
  }

  #pump(): void {
    const conn = this.#conn;
    if (!conn?.open || conn.refused || this.#stopped || !(this.#ready || this.#stopping)) return;
    const { outbox } = this.#deps;
    while (
      this.#unacked.size < this.#settings.maxUnackedBatches &&
      conn.bufferedAmount < HIGH_WATER_BYTES &&
      outbox.size > 0
    ) {
      const events = outbox.take(this.#settings.maxBatchEvents);
      if (events.length === 0) break;
      const batch = this.#unacked.open(events, { podTable: conn.podTable });
      this.#unacked.sent(batch);
      conn.send(batch.frame);
    }
    if (outbox.size === 0) this.#ready = false;
  }

  #isDrained(): boolean {
    return this.#unacked.size === 0 && this.#deps.outbox.size === 0;
  }

  #checkDrained(): void {
    if (this.#stopping && this.#drained && this.#isDrained()) this.#drained();
  }
}
