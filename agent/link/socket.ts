// Socket plumbing of the link: dialing with the bearer token (and CA for wss://), reading an
// HTTP refusal, the ping/pong heartbeat, and closing without hanging on a mute peer.
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import type { Clock, Timer } from "../../shared/clock.ts";
import { type Refusal, readRefusal } from "./refusal.ts";

/** Frames from the aggregator are small (Ack, Config, Reject). */
const MAX_INBOUND_BYTES = 1 << 20;

/** Reads the token (and CA) afresh and opens the socket; throws when they cannot be read. */
export async function dial(options: {
  url: string;
  token: () => Promise<string> | string;
  caFile?: string;
  onRefused: (refusal: Refusal) => void;
}): Promise<WebSocket> {
  const token = (await options.token()).trim();
  const ca = options.caFile ? readFileSync(options.caFile) : undefined;
  const ws = new WebSocket(options.url, {
    perMessageDeflate: false,
    headers: { authorization: `Bearer ${token}` },
    handshakeTimeout: 10_000,
    maxPayload: MAX_INBOUND_BYTES,
    ...(ca ? { ca } : {}),
  });
  ws.on("unexpected-response", (_req, res) => {
    void readRefusal(res).then((refusal) => {
      options.onRefused(refusal);
      ws.terminate();
    });
  });
  return ws;
}

/**
 * Pings every interval; a peer that answered neither of the last two pings (nor sent any
 * frame) is silent: `onSilent` runs and the heartbeat stops.
 */
export class Heartbeat {
  #clock: Clock;
  #timer: Timer | undefined;
  #missed = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  start(ws: WebSocket, intervalMs: number, onSilent: () => void): void {
    this.stop();
    this.#missed = 0;
    const beat = (): void => {
      if (ws.readyState !== ws.OPEN) return;
      if (this.#missed >= 2) {
        onSilent();
        return;
      }
      this.#missed++;
      ws.ping();
      this.#timer = this.#clock.setTimeout(beat, intervalMs);
    };
    this.#timer = this.#clock.setTimeout(beat, intervalMs);
  }

  /** The peer showed life (pong or any frame). */
  alive(): void {
    this.#missed = 0;
  }

  stop(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Closes with 1000 and waits for the peer, cutting it off after a second. */
export function closeGracefully(ws: WebSocket, reason: string): Promise<void> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    // Real timer on purpose: a peer that never answers the close must not hold shutdown.
    const cutoff = setTimeout(() => ws.terminate(), 1_000);
    ws.once("close", () => {
      clearTimeout(cutoff);
      resolve();
    });
    if (ws.readyState === ws.CONNECTING) ws.terminate();
    else ws.close(1000, reason);
  });
}
