// One WebSocket to the aggregator, from dial to close; each reconnect is a new Connection.
// It keeps the ping/pong heartbeat, decodes the aggregator's frames (Ack, Reject, Config) and
// hands them to the link, remembers what this aggregator announced (batch pod tables) and
// whether it refused us (after a Reject nothing more is sent: the aggregator closes, or we do
// after a grace period), and says why the socket closed. Which batches go, and when, is the
// link's (index.ts).
import type WebSocket from "ws";
import type { Clock, Timer } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import {
  CAPABILITY_BATCH_POD_TABLE,
  type ConfigFrame,
  decodeEnvelope,
  type Envelope,
} from "../../shared/proto.ts";
import type { LinkMetrics } from "./metrics.ts";
import { HIGH_WATER_BYTES } from "./ports.ts";
import { hintOf, REJECT_CLOSE_GRACE_MS } from "./refusal.ts";
import { closeGracefully, dial, Heartbeat } from "./socket.ts";

/** What the link does with what happens on the socket. */
export interface ConnectionEvents {
  open(): void;
  ack(seq: number, dropped: number): void;
  reject(code: string, message: string, seq: number): void;
  config(frame: ConfigFrame): void;
  /** A frame was written and the socket's buffer is below HIGH_WATER_BYTES. */
  writable(): void;
  /** `cause` is the metric label of the reconnect: refused, heartbeat, malformed, rejected, closed, connect_failed. */
  closed(code: number, reason: string, cause: string, wasOpen: boolean): void;
}

export interface ConnectionDeps {
  url: string;
  token: () => Promise<string> | string;
  caFile?: string;
  clock: Clock;
  log: Logger;
  metrics: LinkMetrics;
  events: ConnectionEvents;
}

export class Connection {
  readonly #deps: ConnectionDeps;
  #ws!: WebSocket;
  #open = false;
  /** This aggregator announced Batch.pods support (Config.capabilities). */
  #podTable = false;
  /** The aggregator sent a Reject on this connection and is about to close it. */
  #refused = false;
  #refusedCloser: Timer | undefined;
  #closeCause: string | undefined;
  /** Closed by the link (shutdown): its close is not a reason to reconnect. */
  #detached = false;
  readonly #heartbeat: Heartbeat;

  private constructor(deps: ConnectionDeps) {
    this.#deps = deps;
    this.#heartbeat = new Heartbeat(deps.clock);
  }

  /** Reads the token (and CA) afresh and opens the socket; throws when they cannot be read. */
  static async dial(deps: ConnectionDeps): Promise<Connection> {
    const conn = new Connection(deps);
    conn.#ws = await dial({
      url: deps.url,
      token: deps.token,
      ...(deps.caFile ? { caFile: deps.caFile } : {}),
      onRefused: (refusal) => {
        conn.#closeCause = "refused";
        deps.metrics.rejects.inc({ code: refusal.code });
        deps.log.error(
          { status: refusal.status, code: refusal.code, hint: refusal.hint ?? hintOf(refusal.code) },
          `aggregator refused the connection: ${refusal.message}`,
        );
      },
    });
    return conn;
  }

  /** Starts listening; the link calls it once it keeps this connection. */
  listen(heartbeatIntervalMs: () => number): void {
    const ws = this.#ws;
    ws.on("open", () => {
      this.#open = true;
      this.#deps.events.open();
      this.#heartbeat.start(ws, heartbeatIntervalMs(), () => {
        this.#deps.log.warn("aggregator silent for two heartbeat intervals; dropping the link");
        this.#closeCause = "heartbeat";
        ws.terminate();
      });
    });
    ws.on("message", (data: Buffer) => this.#onMessage(data));
    ws.on("pong", () => this.#heartbeat.alive());
    ws.on("error", (err) => this.#deps.log.warn({ err: err.message }, "link error"));
    ws.on("close", (code, reason) => this.#onClose(code, reason.toString()));
  }

  /** Not kept (the link stopped while dialing). */
  abandon(): void {
    // Terminating a socket that is still connecting emits 'error': without a listener
    // that would be an uncaught exception in the middle of a shutdown.
    this.#ws.on("error", () => {});
    this.#ws.terminate();
  }

  get open(): boolean {
    return this.#open;
  }

  get podTable(): boolean {
    return this.#podTable;
  }

  /** Nothing may be sent: the aggregator refused this connection. */
  get refused(): boolean {
    return this.#refused;
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(frame: Uint8Array): void {
    const ws = this.#ws;
    ws.send(frame, { binary: true }, (err) => {
      if (err) return; // the socket is closing; 'close' reconnects and resends
      if (ws.bufferedAmount < HIGH_WATER_BYTES) this.#deps.events.writable();
    });
  }

  /** After a Reject: send nothing more, and close ourselves if the aggregator does not. */
  refuse(): void {
    this.#closeCause = "rejected";
    this.#refused = true;
    if (!this.#refusedCloser) {
      const ws = this.#ws;
      this.#refusedCloser = this.#deps.clock.setTimeout(() => {
        if (ws.readyState === ws.OPEN) ws.close(1000, "rejected");
      }, REJECT_CLOSE_GRACE_MS);
    }
  }

  /** Shutdown: closes with 1000 and waits for the peer (a second at most). */
  async close(): Promise<void> {
    this.#detached = true;
    this.#open = false;
    this.#heartbeat.stop();
    if (this.#refusedCloser) this.#deps.clock.clearTimeout(this.#refusedCloser);
    await closeGracefully(this.#ws, "agent shutting down");
  }

  #onMessage(data: Buffer): void {
    this.#heartbeat.alive();
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(data);
    } catch (err) {
      this.#deps.log.error(
        { err: (err as Error).message, bytes: data.length },
        "aggregator sent an undecodable frame; reconnecting",
      );
      this.#closeCause = "malformed";
      this.#ws.terminate();
      return;
    }
    const { events } = this.#deps;
    if (envelope.ack) events.ack(envelope.ack.seq ?? 0, envelope.ack.dropped ?? 0);
    else if (envelope.reject)
      events.reject(envelope.reject.code ?? "", envelope.reject.message ?? "", envelope.reject.seq ?? 0);
    else if (envelope.config) {
      const podTable = (envelope.config.capabilities ?? []).includes(CAPABILITY_BATCH_POD_TABLE);
      if (podTable !== this.#podTable) {
        this.#podTable = podTable;
        this.#deps.log.info(
          { capabilities: envelope.config.capabilities },
          podTable
            ? "aggregator reads per-batch pod tables; batches carry each pod's identity once"
            : "aggregator does not announce batch-pod-table; every event carries its full pod",
        );
      }
      events.config(envelope.config);
    } else
      this.#deps.log.warn({ body: envelope.body ?? "none" }, "ignoring unexpected frame from the aggregator");
  }

  #onClose(code: number, reason: string): void {
    if (this.#detached) return;
    const wasOpen = this.#open;
    this.#open = false;
    this.#heartbeat.stop();
    this.#refused = false;
    if (this.#refusedCloser) this.#deps.clock.clearTimeout(this.#refusedCloser);
    this.#refusedCloser = undefined;
    const cause = this.#closeCause ?? (wasOpen ? "closed" : "connect_failed");
    this.#closeCause = undefined;
    this.#deps.events.closed(code, reason, cause, wasOpen);
  }
}
