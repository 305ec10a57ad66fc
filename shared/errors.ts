// The error catalog. Every error the product reports to a peer or an operator has a stable
// code, a message and (for the wire) the WebSocket close code it ends with. Codes are never
// reused: retire a code by moving it to RETIRED, never by giving it a new meaning.

export interface CatalogEntry {
  /** What happened, for the operator; details are appended by the caller. */
  message: string;
  /** WebSocket close code sent after a Reject with this code (4000-4999: application). */
  closeCode: number;
  /** What to do about it. */
  hint: string;
}

export const ERRORS = {
  KG_FRAME_MALFORMED: {
    message: "frame is not a valid protobuf Envelope",
    closeCode: 4400,
    hint: "the agent and aggregator disagree about the wire format; check that both run compatible versions",
  },
  KG_FRAME_TOO_LARGE: {
    message: "frame exceeds the aggregator's maximum payload",
    closeCode: 4413,
    hint: "lower the agent's batch size (max_batch_events) or raise the aggregator's --max-payload-bytes",
  },
  KG_FRAME_NOT_BINARY: {
    message: "text frame received; the protocol uses binary frames only",
    closeCode: 4400,
    hint: "only kernel-gossip agents should connect to the stream port",
  },
  KG_FRAME_UNEXPECTED: {
    message: "frame type not allowed in this direction or state",
    closeCode: 4400,
    hint: "the first frame must be Hello; agents send only Hello and Batch",
  },
  KG_BATCH_TOO_MANY_EVENTS: {
    message: "batch holds more events than the aggregator accepts",
    closeCode: 4413,
    hint: "lower the agent's max_batch_events or raise the aggregator's --max-batch-events",
  },
  KG_RATE_LIMITED: {
    message: "connection exceeded its event rate limit",
    closeCode: 4429,
    hint: "the agent reconnects with backoff; raise --max-events-per-second if this node is legitimately busy",
  },
  KG_TOO_MANY_CONNECTIONS: {
    message: "aggregator is at its connection limit",
    closeCode: 4503,
    hint: "add aggregator replicas or raise --max-connections",
  },
  KG_AUTH_MISSING: {
    message: "no bearer token in the upgrade request",
    closeCode: 4401,
    hint: "the agent must mount its projected service-account token (audience kernel-gossip)",
  },
  KG_AUTH_INVALID: {
    message: "token was not accepted by the TokenReview API",
    closeCode: 4401,
    hint: "check the token's audience (kernel-gossip) and that it has not expired",
  },
  KG_AUTH_FORBIDDEN: {
    message: "token belongs to an identity that is not the agent's service account",
    closeCode: 4403,
    hint: "only the kernel-gossip agent service account may stream events",
  },
  KG_AUTH_NO_NODE: {
    message: "cannot tell which node the token's pod runs on",
    closeCode: 4403,
    hint: "use a projected pod-bound token; the aggregator needs get on pods to bind the connection to a node",
  },
  KG_AUTH_RATE_LIMITED: {
    message: "too many failed authentications from this address",
    closeCode: 4429,
    hint: "fix the token (audience kernel-gossip, not expired); the address may try again after Retry-After. Raise --auth-failures-per-minute if many agents share one address",
  },
  KG_AUTH_UNAVAILABLE: {
    message: "TokenReview API unavailable",
    closeCode: 4503,
    hint: "the agent retries; check the aggregator's access to the Kubernetes API",
  },
  KG_NODE_MISMATCH: {
    message: "event is about a pod on another node than the one this connection is bound to",
    closeCode: 4403,
    hint: "an agent may only report pods on its own node; check NODE_NAME in the agent DaemonSet",
  },
  KG_EVENT_INVALID: {
    message: "event field holds a value no real agent sends",
    closeCode: 4400,
    hint: "the batch is refused and dropped by the agent; the Reject names the field (Reject.field). A real agent sends this only with a badly wrong node clock (check NTP) or a bug: report it with the message",
  },
  KG_PROTOCOL_UNSUPPORTED: {
    message: "agent speaks a protocol version this aggregator does not support",
    closeCode: 4426,
    hint: "upgrade the aggregator before the agents",
  },
  KG_SHUTTING_DOWN: {
    message: "aggregator is shutting down",
    closeCode: 1001,
    hint: "the agent reconnects to another replica and resends what was not acknowledged",
  },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERRORS;

/** Codes that once existed and must never be used again. */
// KG_CONFIG_INVALID: in the catalog since v1 but never sent by any agent or aggregator;
// retired so the name is never given a new meaning.
export const RETIRED: readonly string[] = ["KG_CONFIG_INVALID"];

export class KernelGossipError extends Error {
  readonly code: ErrorCode;
  readonly detail: string;

  constructor(code: ErrorCode, detail = "") {
    super(detail ? `${ERRORS[code].message}: ${detail}` : ERRORS[code].message);
    this.name = "KernelGossipError";
    this.code = code;
    this.detail = detail;
  }

  get hint(): string {
    return ERRORS[this.code].hint;
  }

  get closeCode(): number {
    return ERRORS[this.code].closeCode;
  }
}

/**
 * A start-up failure the operator can fix: the message is the whole story in one line (what
 * failed, which option, file or URL, what to do). The CLI prints it without a stack and
 * exits 1; the stack (of `cause`) is printed only with LOG_LEVEL=debug.
 */
export class FatalError extends Error {
  override name = "FatalError";
}

/** A server that could not listen, as a FatalError naming the port and the option that set it. */
export function listenError(err: unknown, port: number, option: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (code === "EADDRINUSE")
    return new FatalError(
      `port ${port} (${option}) is already in use by another process: stop it or choose another port`,
      { cause: err },
    );
  if (code === "EACCES")
    return new FatalError(
      `not allowed to listen on port ${port} (${option}): choose a port above 1023 or grant CAP_NET_BIND_SERVICE`,
      { cause: err },
    );
  return err;
}

/** "fetch failed: connect ECONNREFUSED 127.0.0.1:6443": every message down err.cause. */
export function causeChain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.includes(message)) parts.push(message);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ") || "unknown error";
}
