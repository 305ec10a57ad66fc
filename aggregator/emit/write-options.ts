// What the CR writer is built with (writer.ts): its client, clock, metrics, the global rate
// limit it hands out fairly, the per-object interval, retry backoff and the bounds on what
// it holds.
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { TokenBucket } from "../../shared/token-bucket.ts";
import type { CrClient } from "./kube.ts";
import type { EmitMetrics } from "./metrics.ts";
import type { WhisperState } from "./whisper.ts";

/** First-touch GETs in flight at most (fair-budget.ts FairReads). */
export const FIRST_READS_IN_FLIGHT = 8;

export interface WriterOptions {
  client: CrClient;
  clock: Clock;
  log: Logger;
  metrics: Pick<
    EmitMetrics,
    | "crWrites"
    | "crWriteDuration"
    | "writeTokenWait"
    | "writeLag"
    | "writesCoalesced"
    | "sources"
    | "whisperWatchConflictsAvoided"
  >;
  /** The global write rate limit; the writer orders who is served (fair-budget.ts). */
  bucket: TokenBucket;
  minIntervalMs: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /**
   * Objects held at most (pending or idle). When full, idle objects are forgotten (oldest
   * first; re-read on their next change), then waiting ones of the node holding the most
   * are shed — or the change itself when its node holds the most: answered "shed" (the
   * pipeline acks and counts them). Default unbounded.
   */
  maxObjects?: number | undefined;
  /**
   * Estimated bytes held at most (held-bytes.ts); when over, the same policy sheds down to
   * 90%, answering "shed_bytes". Default unbounded.
   */
  maxBytes?: number | undefined;
  /** Idle whispers are forgotten after this long (re-read on next touch). Default 1 h. */
  idleEvictMs?: number;
  /** Called after a whisper was first created by this replica. */
  onCreated?: (doc: WhisperState) => void;
}
