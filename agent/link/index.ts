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
import { randomUUID } from "node:crypto";
import type WebSocket from "ws";
import { Backoff } from "../../shared/backoff.ts";
import type { Timer } from "../../shared/clock.ts";
import { ERRORS } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import {
  CAPABILITY_BATCH_POD_TABLE,
  type ConfigFrame,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  eventType,
  PROTOCOL_VERSION,
  type WireEvent,
} from "../../shared/proto.ts";
import {
  type AgentLinkDeps,
  HIGH_WATER_BYTES,
  hintOf,
  type LinkSettings,
  NON_RETRYABLE,
  REJECT_CLOSE_GRACE_MS,
} from "./ports.ts";
import { closeGracefully, dial, Heartbeat } from "./socket.ts";
import { DeliveryWindow, type PendingBatch, recoveredBatch, withFullPodRefs } from "./unacked.ts";

export { createLinkMetrics, type LinkMetrics } from "./metrics.ts";
export {
  type AgentLinkDeps,
  type BatchJournal,
  type HelloInit,
  HIGH_WATER_BYTES,
  type LinkSettings,
  NON_RETRYABLE,
  type OutboxPort,
} from "./ports.ts";

export class AgentLink {
  #deps: AgentLinkDeps;
  #settings: LinkSettings;
  #log: Logger;
  #backoff: Backoff;
  #unacked: DeliveryWindow;
  #ws: WebSocket | undefined;
  #open = false;
  #ready = false;
  #closeCause: string | undefined;
  /** The aggregator sent a Reject on this connection and is about to close it. */
  #refused = false;
  #refusedCloser: Timer | undefined;
  #heartbeat: Heartbeat;
  #reconnect: Timer | undefined;
  #started = false;
  #stopping = false;
  #stopped = false;
  #drained: (() => void) | undefined;
  /** The connected aggregator announced Batch.pods support (Config.capabilities) on this connection. */
  #podTable = false;
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
    this.#heartbeat = new Heartbeat(deps.clock);
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
    return this.#open;
  }

  /** Batches opened now carry a pod table: this connection's aggregator announced batch-pod-table. */
  podTables(): boolean {
    return this.#open && this.#podTable;
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
  async stop(
    deadlineMs: number,
  ): Promise<{ delivered: number; undelivered: number; droppedEarlier: number; spooled?: number }> {
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
    this.#heartbeat.stop();
    await this.#closeSocket();
    const journal = this.#deps.journal;
    let queued: WireEvent[] = [];
    if (journal) {
      // Everything still queued goes into the spool as batches, resent after the restart.
      for (;;) {
        const events = this.#deps.outbox.take(this.#settings.maxBatchEvents);
        if (events.length === 0) break;
        this.#unacked.open(events);
      }
    } else queued = this.#deps.outbox.take(Number.MAX_SAFE_INTEGER);
    const left = [...this.#unacked.inOrder()];
    for (const batch of left) this.#unacked.drop(batch, "shutdown");
    for (const event of queued)
      this.#deps.metrics.eventsDropped.inc({ type: eventType(event), cause: "shutdown" });
    const undelivered = left.reduce((n, b) => n + b.events, 0) + queued.length;
    const droppedTotal = (await this.#deps.metrics.eventsDropped.get()).values.reduce(
      (n, v) => n + v.value,
      0,
    );
    const droppedEarlier = Math.max(0, droppedTotal - undelivered);
    const summary = {
      delivered: this.#unacked.delivered,
      undelivered,
      droppedEarlier,
      unackedBatches: left.length,
      queued: queued.length,
    };
    if (undelivered > 0 && journal) {
      this.#log.info(
        { ...summary, spool: journal.file },
        `link stopped with ${undelivered} events not yet acknowledged; they are kept in the spool (${left.length} batches) and resent after restart`,
      );
      return { delivered: this.#unacked.delivered, undelivered, droppedEarlier, spooled: undelivered };
    }
    if (undelivered > 0) {
      this.#log.warn(
        summary,
        `link stopped with ${undelivered} events not delivered (${left.length} unacked batches, ${queued.length} queued events); they are lost unless the detectors see them again after restart`,
      );
    } else if (droppedEarlier > 0) {
      this.#log.warn(
        summary,
        `link stopped; everything queued at shutdown was delivered, but ${droppedEarlier} events were dropped earlier (kernel_gossip_agent_events_dropped_total says why)`,
      );
    } else this.#log.info(summary, "link stopped; every event was delivered");
    return { delivered: this.#unacked.delivered, undelivered, droppedEarlier };
  }

  async #connect(): Promise<void> {
    this.#reconnect = undefined;
    if (this.#stopped) return;
    let ws: WebSocket;
    try {
      ws = await dial({
        url: this.#deps.url,
        token: this.#deps.token,
        ...(this.#deps.caFile ? { caFile: this.#deps.caFile } : {}),
        onRefused: (refusal) => {
          this.#closeCause = "refused";
          this.#deps.metrics.rejects.inc({ code: refusal.code });
          this.#log.error(
            { status: refusal.status, code: refusal.code, hint: refusal.hint ?? hintOf(refusal.code) },
            `aggregator refused the connection: ${refusal.message}`,
          );
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
      // Terminating a socket that is still connecting emits 'error': without a listener
      // that would be an uncaught exception in the middle of a shutdown.
      ws.on("error", () => {});
      ws.terminate();
      return;
    }
    this.#ws = ws;
    ws.on("open", () => this.#onOpen(ws));
    ws.on("message", (data: Buffer) => this.#onMessage(ws, data));
    ws.on("pong", () => this.#heartbeat.alive());
    ws.on("error", (err) => this.#log.warn({ err: err.message }, "link error"));
    ws.on("close", (code, reason) => this.#onClose(ws, code, reason.toString()));
  }

  #onOpen(ws: WebSocket): void {
    this.#open = true;
    this.#podTable = false; // until this aggregator says otherwise
    this.#deps.metrics.connected.set(1);
    const hello = this.#deps.hello();
    this.#write(
      ws,
      encodeEnvelope({
        hello: {
          ...hello,
          capabilities: hello.capabilities.includes(CAPABILITY_BATCH_POD_TABLE)
            ? hello.capabilities
            : [...hello.capabilities, CAPABILITY_BATCH_POD_TABLE],
          instanceId: hello.instanceId || this.instanceId,
          protocolVersion: PROTOCOL_VERSION,
          lastAckedSeq: this.#unacked.lastAckedSeq,
        },
      }),
    );
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
      this.#sendBatch(ws, batch);
    }
    this.#log.info({ resent: resend.length, configVersion: hello.configVersion }, "connected to aggregator");
    this.#heartbeat.start(ws, this.#settings.heartbeatIntervalMs, () => {
      this.#log.warn("aggregator silent for two heartbeat intervals; dropping the link");
      this.#closeCause = "heartbeat";
      ws.terminate();
    });
    this.#pump();
  }

  #onMessage(ws: WebSocket, data: Buffer): void {
    this.#heartbeat.alive();
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(data);
    } catch (err) {
      this.#log.error(
        { err: (err as Error).message, bytes: data.length },
        "aggregator sent an undecodable frame; reconnecting",
      );
      this.#closeCause = "malformed";
      ws.terminate();
      return;
    }
    if (envelope.ack) this.#onAck(envelope.ack.seq ?? 0, envelope.ack.dropped ?? 0);
    else if (envelope.reject)
      this.#onReject(ws, envelope.reject.code ?? "", envelope.reject.message ?? "", envelope.reject.seq ?? 0);
    else if (envelope.config) this.#onConfig(envelope.config);
    else this.#log.warn({ body: envelope.body ?? "none" }, "ignoring unexpected frame from the aggregator");
  }

  #onConfig(config: ConfigFrame): void {
    this.#backoff.reset();
    const podTable = (config.capabilities ?? []).includes(CAPABILITY_BATCH_POD_TABLE);
    if (podTable !== this.#podTable) {
      this.#podTable = podTable;
      this.#log.info(
        { capabilities: config.capabilities },
        podTable
          ? "aggregator reads per-batch pod tables; batches carry each pod's identity once"
          : "aggregator does not announce batch-pod-table; every event carries its full pod",
      );
    }
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

  #onReject(ws: WebSocket, code: string, message: string, seq: number): void {
    this.#deps.metrics.rejects.inc({ code });
    const hint = hintOf(code);
    const batch = seq > 0 ? this.#unacked.get(seq) : undefined;
    if (batch && NON_RETRYABLE.has(code)) {
      this.#log.error(
        { code, seq, events: batch.events, hint },
        `aggregator refused batch ${seq} for good (${message}); its ${batch.events} events are dropped`,
      );
      this.#unacked.drop(batch, "rejected");
    } else {
      this.#log.warn(
        { code, seq, hint },
        `aggregator rejected the link: ${message}; reconnecting with backoff`,
      );
    }
    // The aggregator closes after acking what it is still writing; send nothing more meanwhile,
    // and close ourselves only if it does not.
    this.#closeCause = "rejected";
    this.#refused = true;
    if (!this.#refusedCloser) {
      this.#refusedCloser = this.#deps.clock.setTimeout(() => {
        if (ws.readyState === ws.OPEN) ws.close(1000, "rejected");
      }, REJECT_CLOSE_GRACE_MS);
    }
    this.#checkDrained();
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    const wasOpen = this.#open;
    this.#ws = undefined;
    this.#open = false;
    this.#deps.metrics.connected.set(0);
    this.#heartbeat.stop();
    this.#refused = false;
    if (this.#refusedCloser) this.#deps.clock.clearTimeout(this.#refusedCloser);
    this.#refusedCloser = undefined;
    if (code === 1009) {
      // ws closes with 1009 itself when a frame exceeds the aggregator's maxPayload, so no Reject
      // names the batch: the largest unacked batch is the one (or one of those) too large.
      const batch = this.#unacked.largest();
      this.#deps.metrics.rejects.inc({ code: "KG_FRAME_TOO_LARGE" });
      if (batch) {
        this.#log.error(
          {
            code: "KG_FRAME_TOO_LARGE",
            seq: batch.seq,
            bytes: batch.frame.length,
            hint: ERRORS.KG_FRAME_TOO_LARGE.hint,
          },
          `aggregator closed the link because a frame was too large (1009); dropping batch ${batch.seq} of ${batch.events} events`,
        );
        this.#unacked.drop(batch, "rejected");
      }
    }
    const cause = this.#closeCause ?? (wasOpen ? "closed" : "connect_failed");
    this.#closeCause = undefined;
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
    const ws = this.#ws;
    if (!ws || !this.#open || this.#refused || this.#stopped || !(this.#ready || this.#stopping)) return;
    const { outbox } = this.#deps;
    while (
      this.#unacked.size < this.#settings.maxUnackedBatches &&
      ws.bufferedAmount < HIGH_WATER_BYTES &&
      outbox.size > 0
    ) {
      const events = outbox.take(this.#settings.maxBatchEvents);
      if (events.length === 0) break;
      const batch = this.#unacked.open(events, { podTable: this.#podTable });
      this.#sendBatch(ws, batch);
    }
    if (outbox.size === 0) this.#ready = false;
  }

  #sendBatch(ws: WebSocket, batch: PendingBatch): void {
    this.#unacked.sent(batch);
    this.#write(ws, batch.frame);
  }

  #write(ws: WebSocket, frame: Uint8Array): void {
    ws.send(frame, { binary: true }, (err) => {
      if (err) return; // the socket is closing; 'close' reconnects and resends
      if (ws.bufferedAmount < HIGH_WATER_BYTES) this.#pump();
    });
  }

  #isDrained(): boolean {
    return this.#unacked.size === 0 && this.#deps.outbox.size === 0;
  }

  #checkDrained(): void {
    if (this.#stopping && this.#drained && this.#isDrained()) this.#drained();
  }

  async #closeSocket(): Promise<void> {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = undefined;
    this.#open = false;
    this.#deps.metrics.connected.set(0);
    await closeGracefully(ws, "agent shutting down");
  }
}
