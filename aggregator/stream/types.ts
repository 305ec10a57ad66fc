// The stream's own types: what a connection knows about its agent, the context a batch is
// handed to the pipeline with, and what a connection is built from.
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { ConfigFrame } from "../../shared/proto.ts";
import type { BatchContext, BatchHandler } from "../types/index.ts";
import type { FrameLimits } from "./frame-handler.ts";
import type { StreamMetrics } from "./metrics.ts";

/** The stream sets every field of the context (aggregator/types BatchContext). */
export type StreamBatchContext = Required<BatchContext>;
/** The aggregator's pipeline: resolves once every event is reflected in the cluster or dropped. */
export type StreamBatchHandler = BatchHandler<StreamBatchContext>;

export interface ConnectionInfo {
  id: string;
  identity: string;
  remoteAddress: string;
  /** Set after Hello. */
  node?: string;
  agentVersion?: string;
  configVersion?: string;
  /** Hello.instance_id ("" for old agents). */
  instance?: string;
}

export interface ConnectionDeps {
  handler: StreamBatchHandler;
  limits: FrameLimits;
  clock: Clock;
  log: Logger;
  metrics: StreamMetrics;
  currentConfig: () => ConfigFrame | undefined;
  /**
   * While the writer is pressing (emit/write-pressure.ts), the frame bytes in flight above
   * which a connection is not read from; undefined otherwise.
   */
  bytesShare?: () => number | undefined;
}
