// What waits on the CR writer and what it is answered with: the objects it writes, the
// outcome of the write that carried a change, and the waiter the pipeline passes per
// (batch, object). The writer's parts (writer.ts, write-schedule.ts, write-attempt.ts,
// write-failure.ts) and the pipeline speak these.
import type { BirthCertificate } from "./birth.ts";
import type { WhisperState } from "./whisper.ts";

export type Doc = WhisperState | BirthCertificate;

/** "written", or why the change will never be written (the write failed for good, or was shed). */
export type WriteOutcome =
  | "written"
  | "invalid"
  | "unrenderable"
  | "namespace_not_found"
  | "namespace_terminating"
  | "shed"
  | "shed_bytes";

export class WriterStoppedError extends Error {
  override name = "WriterStoppedError";
  constructor() {
    super("the CR writer is stopping; the change was not written (the agent resends it)");
  }
}

/**
 * Who waits for an object's next write. The pipeline passes one per (batch, object) — the
 * batch's own record, not a promise per event — so what waits under the write rate limit is
 * O(objects × batches), never the batch's events.
 */
export interface WriteWaiter {
  /** Who the change came from (the agent's node): writes take turns by source. */
  readonly source?: string;
  resolve(outcome: WriteOutcome): void;
  reject(err: Error): void;
  /**
   * False when nobody's ack waits for this write any more (state acked once folded, ADR
   * 0011): the object's requests then wait behind urgent ones for a token. Default true.
   */
  readonly urgent?: boolean;
  /**
   * Heap this waiter keeps alive until it is answered (its record, its events' ids: see
   * held-bytes.ts waiterBytes), read once when it is submitted. Default WAITER_BASE.
   */
  readonly heldBytes?: number;
  /**
   * One waiter submitted again and again (all the state folds into one object between two of
   * its writes): queued once while it waits. Default false.
   */
  readonly shared?: boolean;
}
