// What the WebSocket layer refuses before a frame reaches the FrameHandler, and the bytes of
// a frame as ws hands them over. ws closes the connection itself (1009 for an oversized frame,
// 1002 for protocol errors) before emitting the error, so no Reject can follow: the refusal is
// counted and logged here.
import type WebSocket from "ws";
import { ERRORS, type ErrorCode } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import type { ConnectionDeps } from "./types.ts";

/**
 * Counts and logs an error of the WebSocket layer as the Reject it stands for; returns false
 * for any other socket error (a reset: the close is logged), which is only logged at debug.
 * Both length errors close with 1009: a frame over maxPayload, and a header claiming a length
 * past 2^53 - 1 (no frame can be that large; it is not "malformed" to the agent).
 */
export function rejectedByWebSocketLayer(
  err: Error & { code?: string },
  node: string | undefined,
  metrics: ConnectionDeps["metrics"],
  log: Logger,
): boolean {
  if (!err.code?.startsWith("WS_ERR_")) {
    log.debug({ err, node }, "agent socket error (the close is logged)");
    return false;
  }
  const code: ErrorCode =
    err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" || err.code === "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH"
      ? "KG_FRAME_TOO_LARGE"
      : "KG_FRAME_MALFORMED";
  metrics.rejects.inc({ code });
  metrics.framesReceived.inc({ type: "invalid" });
  log.warn(
    { code, wsError: err.code, node, hint: ERRORS[code].hint },
    `rejected agent frame: ${err.message} (connection closed by the WebSocket layer)`,
  );
  return true;
}

export function toBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
