// The aggregator's refusals: its HTTP refusal of the upgrade (401/403/503 with {code,
// message, hint}), and what a Reject frame or a 1009 close does to the unacknowledged batches —
// a batch refused for good is dropped and counted, so one poison batch cannot loop; any other
// refusal means reconnect and resend.
import type { IncomingMessage } from "node:http";
import { ERRORS } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import type { LinkMetrics } from "./metrics.ts";
import type { DeliveryWindow } from "./unacked.ts";

/** Rejects that refuse the batch itself: resending it would fail again. */
const NON_RETRYABLE = new Set([
  "KG_NODE_MISMATCH",
  "KG_BATCH_TOO_MANY_EVENTS",
  "KG_FRAME_TOO_LARGE",
  "KG_FRAME_MALFORMED",
  "KG_EVENT_INVALID",
]);

/** How long the aggregator may take to close after a Reject before the agent closes itself. */
export const REJECT_CLOSE_GRACE_MS = 15_000;

export const hintOf = (code: string): string | undefined =>
  (ERRORS as Record<string, { hint: string }>)[code]?.hint;

/** A Reject frame: the batch it names is dropped when refused for good; any other means reconnect. */
export function rejected(
  window: DeliveryWindow,
  reject: { code: string; message: string; seq: number },
  metrics: LinkMetrics,
  log: Logger,
): void {
  const { code, message, seq } = reject;
  metrics.rejects.inc({ code });
  const hint = hintOf(code);
  const batch = seq > 0 ? window.get(seq) : undefined;
  if (batch && NON_RETRYABLE.has(code)) {
    log.error(
      { code, seq, events: batch.events, hint },
      `aggregator refused batch ${seq} for good (${message}); its ${batch.events} events are dropped`,
    );
    window.drop(batch, "rejected");
  } else {
    log.warn({ code, seq, hint }, `aggregator rejected the link: ${message}; reconnecting with backoff`);
  }
}

/**
 * A close with 1009: ws closes so itself when a frame exceeds the aggregator's maxPayload, so no
 * Reject names the batch: the largest unacked batch is the one (or one of those) too large.
 */
export function closedTooLarge(window: DeliveryWindow, metrics: LinkMetrics, log: Logger): void {
  const batch = window.largest();
  metrics.rejects.inc({ code: "KG_FRAME_TOO_LARGE" });
  if (!batch) return;
  log.error(
    {
      code: "KG_FRAME_TOO_LARGE",
      seq: batch.seq,
      bytes: batch.frame.length,
      hint: ERRORS.KG_FRAME_TOO_LARGE.hint,
    },
    `aggregator closed the link because a frame was too large (1009); dropping batch ${batch.seq} of ${batch.events} events`,
  );
  window.drop(batch, "rejected");
}

export interface Refusal {
  status: number;
  code: string;
  message: string;
  hint?: string;
}

const MAX_BODY = 8_192;

export function readRefusal(res: IncomingMessage): Promise<Refusal> {
  return new Promise((resolve) => {
    const status = res.statusCode ?? 0;
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        const body = JSON.parse(text) as Partial<Refusal>;
        resolve({
          status,
          code: typeof body.code === "string" ? body.code : `HTTP_${status}`,
          message: typeof body.message === "string" ? body.message : text,
          ...(typeof body.hint === "string" ? { hint: body.hint } : {}),
        });
      } catch {
        resolve({ status, code: `HTTP_${status}`, message: text.slice(0, 200) || `HTTP ${status}` });
      }
    };
    res.on("data", (chunk: Buffer) => {
      if (size < MAX_BODY) chunks.push(chunk);
      size += chunk.length;
    });
    res.on("end", done);
    res.on("error", done);
    res.on("aborted", done);
  });
}
