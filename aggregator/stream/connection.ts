// One agent connection: feeds frames to the FrameHandler, hands batches to the pipeline and
// acks each batch only after the pipeline resolved it (every event written or deliberately
// dropped). A failed batch is not acked: the connection closes so the agent reconnects and
// resends. After a Reject the connection closes with the catalog's close code.
// Shutdown drains: no new frame is read, batches in flight finish and are acked, and only
// then the agent gets Reject KG_SHUTTING_DOWN (bounded by a deadline; what is still in flight
// then is never acked and the agent resends it — the delivery ledger makes that harmless).
// The batches in flight, and whether the agent is read from meanwhile (paused when too many
// await their acks, or for the writer's bytes), are in-flight.ts; what the agent's Hello
// tells the connection and what it is answered (config, capabilities) is hello.ts.
import type WebSocket from "ws";
import { ERRORS, type ErrorCode, KernelGossipError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import { type ConfigFrame, type EnvelopeInit, encodeEnvelope } from "../../shared/proto.ts";
import { type DecodedEvent, FrameHandler } from "./frame-handler.ts";
import { handOver } from "./handoff.ts";
import { capabilitiesOnly, configEnvelope, helloReceived } from "./hello.ts";
import { InFlight } from "./in-flight.ts";
import { rejectedByWebSocketLayer, toBytes } from "./socket-errors.ts";
import type { ConnectionDeps, ConnectionInfo, StreamBatchContext } from "./types.ts";

/** After a Reject, how long batches already being written may take to be acked before the close. */
const DRAIN_BEFORE_CLOSE_MS = 10_000;

export class AgentConnection {
  readonly info: ConnectionInfo;
  /** Heartbeats sent without a pong or frame since. */
  missed = 0;
  #ws: WebSocket;
  #frames: FrameHandler;
  /** Batches received, not yet answered, and whether the agent is read from (in-flight.ts). */
  #inFlight: InFlight;
  #acked = 0;
  /** No more frames are processed (after a Reject, a failure or shutdown). */
  #closing = false;
  /** No more acks either (shutdown, or a failed batch): in-flight batches are resent. */
  #silenced = false;
  /** Shutting down: new frames are ignored, in-flight batches still finish and are acked. */
  #draining = false;
  /** Close code waiting for in-flight batches to be acked first. */
  #closeWhenDrained: { code: number; reason: string } | undefined;
  #deps: ConnectionDeps;
  #log: Logger;

  constructor(ws: WebSocket, info: ConnectionInfo, boundNode: string | undefined, deps: ConnectionDeps) {
    this.#ws = ws;
    this.#inFlight = new InFlight(ws);
    this.info = info;
    this.#deps = deps;
    this.#log = deps.log.child({ connection: info.id, identity: info.identity, remote: info.remoteAddress });
    this.#frames = new FrameHandler(
      boundNode === undefined
        ? { limits: deps.limits, clock: deps.clock }
        : { boundNode, limits: deps.limits, clock: deps.clock },
    );
    ws.on("message", (data, isBinary) => {
      this.missed = 0;
      this.#onFrame(toBytes(data), isBinary);
    });
    ws.on("pong", () => {
      this.missed = 0;
    });
    ws.on("error", (err: Error & { code?: string }) => this.#onSocketError(err));
  }

  /** Frame bytes of the batches received and not yet acked. */
  get inFlightBytes(): number {
    return this.#inFlight.bytes;
  }

  /** Why this connection is not read from now, if it is not. */
  get pausedFor(): "in_flight" | "pending_bytes" | undefined {
    return this.#inFlight.pausedFor;
  }

  /**
   * Stops or resumes reading from the agent for the writer's bytes (the node holds more than
   * its share); the agent keeps its unacked batches meanwhile.
   */
  holdForBytes(on: boolean): boolean {
    return this.#inFlight.holdForBytes(on);
  }

  get helloDone(): boolean {
    return this.info.node !== undefined;
  }

  sendConfig(frame: ConfigFrame): void {
    if (!this.helloDone || this.#closing) return;
    this.#send(configEnvelope(frame));
    this.#deps.metrics.configPushes.inc();
  }

  ping(): void {
    // A paused socket is not read, so its pongs are not seen: it is not silent, we are deaf.
    if (!this.#ws.isPaused) this.missed++;
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.ping();
  }

  terminate(): void {
    this.#closing = true;
    this.#silenced = true;
    this.#ws.terminate();
  }

  /**
   * Server shutdown, graceful: stops reading frames, waits up to `deadlineMs` for the batches
   * in flight to finish (their acks are sent), then Reject KG_SHUTTING_DOWN and close. A batch
   * still in flight at the deadline is never acked.
   */
  async drain(deadlineMs: number): Promise<{ acked: number; unacked: number }> {
    this.#draining = true;
    const before = this.#acked;
    if (this.#inFlight.count > 0 && !this.#closing && deadlineMs > 0) await this.#inFlight.none(deadlineMs);
    const unacked = this.#inFlight.count;
    if (unacked > 0) {
      this.#log.warn(
        { node: this.info.node, unacked, deadlineMs },
        "shutdown deadline passed with batches still being written; they are not acknowledged and the agent resends them",
      );
    }
    this.shutdown();
    return { acked: this.#acked - before, unacked };
  }

  /** Server shutdown at once: Reject KG_SHUTTING_DOWN, then close; in-flight batches are never acked. */
  shutdown(): void {
    this.#silenced = true;
    this.reject("KG_SHUTTING_DOWN", "replica is stopping; reconnect to another one");
  }

  reject(code: ErrorCode, detail: string, seq?: number, field?: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#deps.metrics.rejects.inc({ code });
    const level = code === "KG_SHUTTING_DOWN" ? "info" : "warn";
    this.#log[level](
      { code, seq, field, node: this.info.node, hint: ERRORS[code].hint },
      `rejected agent frame: ${detail}`,
    );
    const message = `${ERRORS[code].message}: ${detail}`;
    // Batches already being written are still acked before the close (unless shutting down),
    // so one refused batch does not make the agent resend the good ones around it.
    this.#send({ reject: { code, message, seq: seq ?? 0, field: field ?? "" } }, () => {
      this.#closeWhenDrained = { code: ERRORS[code].closeCode, reason: code };
      if (this.#inFlight.count === 0 || this.#silenced) this.#closeNow();
      else setTimeout(() => this.#closeNow(), DRAIN_BEFORE_CLOSE_MS).unref();
    });
  }

  #closeNow(): void {
    const pending = this.#closeWhenDrained;
    this.#closeWhenDrained = undefined;
    if (pending && this.#ws.readyState === this.#ws.OPEN) this.#ws.close(pending.code, pending.reason);
  }

  #onFrame(data: Uint8Array, isBinary: boolean): void {
    if (this.#closing || this.#draining) return;
    const outcome = this.#frames.handle(data, isBinary);
    const { metrics } = this.#deps;
    switch (outcome.kind) {
      case "ignored":
        return;
      case "reject":
        metrics.framesReceived.inc({ type: "invalid" });
        this.reject(outcome.code, outcome.detail, outcome.seq, outcome.field);
        return;
      case "hello": {
        metrics.framesReceived.inc({ type: "hello" });
        helloReceived(this.info, outcome, this.#log);
        const config = this.#deps.currentConfig();
        if (config) this.sendConfig(config);
        else {
          const capabilities = capabilitiesOnly(outcome);
          if (capabilities) this.#send(capabilities);
        }
        return;
      }
      case "batch":
        void this.#handleBatch(outcome.seq, outcome.events, data.byteLength);
    }
  }

  /**
   * Hands the batch to the pipeline and keeps only its size: an async function would keep
   * `events` (the decoded frame) alive across its await until the ack, which under a
   * write backlog is most of the aggregator's heap.
   */
  #handleBatch(seq: number, events: DecodedEvent[], bytes: number): Promise<void> {
    const count = events.length;
    const started = this.#deps.clock.monotonic();
    // While the writer is pressing (write-pressure.ts), an agent over its share is not read.
    this.#inFlight.received(bytes, this.#deps.bytesShare?.());
    const { ctx, handled } = handOver(this.#deps.handler, this.#deps.metrics, this.info, seq, events);
    return this.#awaitBatch(seq, count, bytes, ctx, started, handled);
  }

  async #awaitBatch(
    seq: number,
    count: number,
    bytes: number,
    ctx: StreamBatchContext,
    started: number,
    handled: Promise<{ dropped: number }>,
  ): Promise<void> {
    try {
      const { dropped } = await handled;
      if (this.#silenced) return; // shutting down or failed: not acked, the agent resends
      this.#send({ ack: { seq, dropped } });
      this.#acked++;
      this.#deps.metrics.batchDuration.observe((this.#deps.clock.monotonic() - started) / 1000);
    } catch (err) {
      if (err instanceof KernelGossipError) {
        // The pipeline refused the batch for good (e.g. a pod on another node): a Reject
        // naming it, like a refused frame; batches already being written are still acked.
        this.reject(err.code, err.detail, seq);
        return;
      }
      if (this.#draining) {
        // Not written before the replica's flush deadline: not acked, the agent resends it.
        this.#log.info(
          { seq, events: count, node: ctx.node, err: (err as Error).message },
          "batch not written before shutdown; not acknowledged, the agent resends it",
        );
        return;
      }
      this.#deps.metrics.batchFailures.inc();
      this.#log.error(
        { err, seq, events: count, node: ctx.node },
        "handling a batch failed; not acknowledged, closing the connection so the agent resends it",
      );
      this.#closing = true;
      this.#silenced = true;
      if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(1011, "batch handling failed; resend");
    } finally {
      this.#inFlight.answered(bytes);
      if (this.#inFlight.count === 0 && this.#closeWhenDrained) this.#closeNow();
    }
  }

  #onSocketError(err: Error & { code?: string }): void {
    if (!rejectedByWebSocketLayer(err, this.info.node, this.#deps.metrics, this.#log)) return;
    this.#closing = true;
    this.#silenced = true;
  }

  #send(envelope: EnvelopeInit, done?: () => void): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(encodeEnvelope(envelope), { binary: true }, (err) => {
      if (err) this.#log.debug({ err }, "send to agent failed; the connection is closing");
      done?.();
    });
  }
}
