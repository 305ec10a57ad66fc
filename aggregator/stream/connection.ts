// One agent connection: feeds frames to the FrameHandler, hands batches to the pipeline and
// acks each batch only after the pipeline resolved it (every event written or deliberately
// dropped). A failed batch is not acked: the connection closes so the agent reconnects and
// resends. After a Reject the connection closes with the catalog's close code.
import type WebSocket from "ws";
import type { Clock } from "../../shared/clock.ts";
import { ERRORS, type ErrorCode } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import { type ConfigFrame, type EnvelopeInit, encodeEnvelope } from "../../shared/proto.ts";
import { eventType } from "./event-type.ts";
import { type DecodedEvent, FrameHandler, type FrameLimits } from "./frame-handler.ts";
import type { StreamMetrics } from "./metrics.ts";

type Event = DecodedEvent;

export interface BatchContext {
  node: string;
  connectionId: string;
  agentVersion: string;
}

/** The aggregator's pipeline: resolves once every event is reflected in the cluster or dropped. */
export interface BatchHandler {
  handleBatch(ctx: BatchContext, events: Event[]): Promise<{ dropped: number }>;
}

export interface ConnectionInfo {
  id: string;
  identity: string;
  remoteAddress: string;
  /** Set after Hello. */
  node?: string;
  agentVersion?: string;
  configVersion?: string;
}

/** Batches in flight per connection before the server stops reading from it. */
const MAX_IN_FLIGHT = 64;

export class AgentConnection {
  readonly info: ConnectionInfo;
  /** Heartbeats sent without a pong or frame since. */
  missed = 0;
  #ws: WebSocket;
  #frames: FrameHandler;
  #inFlight = 0;
  #closing = false;
  #deps: ConnectionDeps;
  #log: Logger;

  constructor(ws: WebSocket, info: ConnectionInfo, boundNode: string | undefined, deps: ConnectionDeps) {
    this.#ws = ws;
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

  get helloDone(): boolean {
    return this.info.node !== undefined;
  }

  sendConfig(frame: ConfigFrame): void {
    if (!this.helloDone || this.#closing) return;
    this.#send({ config: frame });
    this.#deps.metrics.configPushes.inc();
  }

  ping(): void {
    this.missed++;
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.ping();
  }

  terminate(): void {
    this.#closing = true;
    this.#ws.terminate();
  }

  /** Server shutdown: Reject KG_SHUTTING_DOWN, then close; in-flight batches are never acked. */
  shutdown(): void {
    this.reject("KG_SHUTTING_DOWN", "replica is stopping; reconnect to another one");
  }

  reject(code: ErrorCode, detail: string, seq?: number): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#deps.metrics.rejects.inc({ code });
    const level = code === "KG_SHUTTING_DOWN" ? "info" : "warn";
    this.#log[level](
      { code, seq, node: this.info.node, hint: ERRORS[code].hint },
      `rejected agent frame: ${detail}`,
    );
    const message = `${ERRORS[code].message}: ${detail}`;
    this.#send({ reject: { code, message, seq: seq ?? 0 } }, () => {
      if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(ERRORS[code].closeCode, code);
    });
  }

  #onFrame(data: Uint8Array, isBinary: boolean): void {
    if (this.#closing) return;
    const outcome = this.#frames.handle(data, isBinary);
    const { metrics } = this.#deps;
    switch (outcome.kind) {
      case "ignored":
        return;
      case "reject":
        metrics.framesReceived.inc({ type: "invalid" });
        this.reject(outcome.code, outcome.detail, outcome.seq);
        return;
      case "hello": {
        metrics.framesReceived.inc({ type: "hello" });
        const { hello } = outcome;
        this.info.node = outcome.node;
        this.info.agentVersion = hello.agentVersion ?? "";
        this.info.configVersion = hello.configVersion ?? "";
        this.#log.info(
          {
            node: outcome.node,
            agentVersion: hello.agentVersion,
            protocol: hello.protocolVersion,
            configVersion: hello.configVersion,
            lastAckedSeq: hello.lastAckedSeq,
          },
          "agent connected",
        );
        const config = this.#deps.currentConfig();
        if (config) this.sendConfig(config);
        return;
      }
      case "batch":
        metrics.framesReceived.inc({ type: "batch" });
        for (const event of outcome.events) metrics.eventsReceived.inc({ type: eventType(event) });
        void this.#handleBatch(outcome.seq, outcome.events);
    }
  }

  async #handleBatch(seq: number, events: Event[]): Promise<void> {
    const started = this.#deps.clock.monotonic();
    this.#inFlight++;
    if (this.#inFlight >= MAX_IN_FLIGHT) this.#ws.pause();
    const ctx = {
      node: this.info.node ?? "",
      connectionId: this.info.id,
      agentVersion: this.info.agentVersion ?? "",
    };
    try {
      const { dropped } = await this.#deps.handler.handleBatch(ctx, events);
      if (this.#closing) return; // shutting down: not acked, the agent resends elsewhere
      this.#send({ ack: { seq, dropped } });
      this.#deps.metrics.batchDuration.observe((this.#deps.clock.monotonic() - started) / 1000);
    } catch (err) {
      this.#deps.metrics.batchFailures.inc();
      this.#log.error(
        { err, seq, events: events.length, node: ctx.node },
        "handling a batch failed; not acknowledged, closing the connection so the agent resends it",
      );
      if (!this.#closing) {
        this.#closing = true;
        this.#ws.close(1011, "batch handling failed; resend");
      }
    } finally {
      this.#inFlight--;
      if (this.#inFlight < MAX_IN_FLIGHT && this.#ws.isPaused) this.#ws.resume();
    }
  }

  #onSocketError(err: Error & { code?: string }): void {
    // ws closes the connection itself (1009 for an oversized frame, 1002 for protocol errors)
    // before emitting the error, so no Reject can follow: count and log it here.
    const code: ErrorCode =
      err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" ? "KG_FRAME_TOO_LARGE" : "KG_FRAME_MALFORMED";
    if (!err.code?.startsWith("WS_ERR_")) {
      this.#log.warn({ err, node: this.info.node }, "agent socket error");
      return;
    }
    this.#closing = true;
    this.#deps.metrics.rejects.inc({ code });
    this.#deps.metrics.framesReceived.inc({ type: "invalid" });
    this.#log.warn(
      { code, wsError: err.code, node: this.info.node, hint: ERRORS[code].hint },
      `rejected agent frame: ${err.message} (connection closed by the WebSocket layer)`,
    );
  }

  #send(envelope: EnvelopeInit, done?: () => void): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(encodeEnvelope(envelope), { binary: true }, (err) => {
      if (err) this.#log.debug({ err }, "send to agent failed; the connection is closing");
      done?.();
    });
  }
}

export interface ConnectionDeps {
  handler: BatchHandler;
  limits: FrameLimits;
  clock: Clock;
  log: Logger;
  metrics: StreamMetrics;
  currentConfig: () => ConfigFrame | undefined;
}

function toBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
