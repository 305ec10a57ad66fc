// The batches one agent connection has received and not yet answered, and whether the agent
// is read from meanwhile: its socket is paused at MAX_IN_FLIGHT batches, and while the writer
// holds too many bytes (write-pressure.ts) once the batches in flight hold more than the
// agent's share; it is read again when they are answered or the pressing ends. A paused
// agent keeps its unacked batches in its spool: nothing is lost, it only slows down.
import type WebSocket from "ws";

/** Batches in flight per connection before the server stops reading from it. */
const MAX_IN_FLIGHT = 64;

export class InFlight {
  #ws: Pick<WebSocket, "isPaused" | "pause" | "resume">;
  #count = 0;
  /** Frame bytes of the batches in flight (received, not yet acked). */
  #bytes = 0;
  /** Not read from because the writer holds too many bytes for this node (write-pressure.ts). */
  #heldForBytes = false;
  #onNone: (() => void) | undefined;

  constructor(ws: Pick<WebSocket, "isPaused" | "pause" | "resume">) {
    this.#ws = ws;
  }

  /** Batches received and not yet answered. */
  get count(): number {
    return this.#count;
  }

  /** Frame bytes of the batches received and not yet answered. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Why the agent is not read from now, if it is not. */
  get pausedFor(): "in_flight" | "pending_bytes" | undefined {
    if (this.#heldForBytes) return "pending_bytes";
    return this.#count >= MAX_IN_FLIGHT ? "in_flight" : undefined;
  }

  /** Stops or resumes reading for the writer's bytes; false when that was so already. */
  holdForBytes(on: boolean): boolean {
    if (this.#heldForBytes === on) return false;
    this.#heldForBytes = on;
    this.#updatePause();
    return true;
  }

  /**
   * A batch of `bytes` frame bytes was received. While the writer is pressing, `share` is what
   * this agent may have in flight: an agent over it is not read.
   */
  received(bytes: number, share: number | undefined): void {
    this.#count++;
    this.#bytes += bytes;
    if (share !== undefined && this.#bytes > share) this.holdForBytes(true);
    if (this.#count >= MAX_IN_FLIGHT) this.#updatePause();
  }

  /** A batch of `bytes` frame bytes was answered (acked, refused or given up). */
  answered(bytes: number): void {
    this.#count--;
    this.#bytes -= bytes;
    this.#updatePause();
    if (this.#count === 0) this.#onNone?.();
  }

  /** Resolves once no batch is in flight, or after `deadlineMs`. */
  async none(deadlineMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deadlineMs);
      this.#onNone = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#onNone = undefined;
  }

  #updatePause(): void {
    const pause = this.#heldForBytes || this.#count >= MAX_IN_FLIGHT;
    if (pause && !this.#ws.isPaused) this.#ws.pause();
    else if (!pause && this.#ws.isPaused) this.#ws.resume();
  }
}
