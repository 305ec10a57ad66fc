// Admission of an agent's WebSocket upgrade on /stream, before any socket exists: the
// replica is not stopping, the connection limit has room, the source address has not failed
// authentication too often (upgrade-limit.ts), and the bearer token authenticates and binds a
// node (auth.ts). A refused agent gets an HTTP status with a JSON body {code, message, hint}
// (and Retry-After when rate limited); an admitted one is handed to `accept`.
import type { IncomingMessage } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Clock } from "../../shared/clock.ts";
import { ERRORS, type ErrorCode } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import { type Authenticator, bearerToken } from "./auth.ts";
import type { StreamMetrics } from "./metrics.ts";
import { AUTH_FAILURE_BURST, UpgradeLimiter } from "./upgrade-limit.ts";

export const STREAM_PATH = "/stream";

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  KG_AUTH_MISSING: 401,
  KG_AUTH_INVALID: 401,
  KG_AUTH_FORBIDDEN: 403,
  KG_AUTH_NO_NODE: 403,
  KG_AUTH_UNAVAILABLE: 503,
  KG_AUTH_RATE_LIMITED: 429,
  KG_TOO_MANY_CONNECTIONS: 503,
  KG_SHUTTING_DOWN: 503,
};

export interface AdmissionDeps {
  auth: Authenticator;
  limits: { maxConnections: number; authFailuresPerMinute?: number };
  clock: Clock;
  log: Logger;
  metrics: StreamMetrics;
  /** True once the server began closing. */
  closing: () => boolean;
  /** Connections open now. */
  open: () => number;
  /** Completes the upgrade; `boundNode` undefined trusts the node named in Hello (static mode). */
  accept: (
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    boundNode: string | undefined,
    identity: string,
  ) => void;
}

/** The upgrade handler: admits the agent (calls `accept`) or refuses it with a status and body. */
export function createAdmission(
  deps: AdmissionDeps,
): (req: IncomingMessage, socket: Socket, head: Buffer) => Promise<void> {
  const { auth, limits, clock, log, metrics } = deps;
  let pendingUpgrades = 0;
  const limiter = new UpgradeLimiter({ perMinute: limits.authFailuresPerMinute ?? 0, clock });
  const refuse = (
    socket: Socket,
    code: ErrorCode,
    detail: string,
    status?: number,
    retryAfterSeconds?: number,
  ): void => {
    const httpStatus = status ?? HTTP_STATUS[code] ?? 400;
    metrics.connections.inc({ outcome: code });
    metrics.rejects.inc({ code });
    log.warn(
      { code, status: httpStatus, remote: socket.remoteAddress, hint: ERRORS[code].hint },
      `refused agent connection: ${detail}`,
    );
    const body = JSON.stringify({
      code,
      message: `${ERRORS[code].message}: ${detail}`,
      hint: ERRORS[code].hint,
    });
    socket.end(
      `HTTP/1.1 ${httpStatus} ${STATUS_CODES[httpStatus] ?? ""}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retryAfterSeconds ? `Retry-After: ${retryAfterSeconds}\r\n` : ""}Connection: close\r\n\r\n${body}`,
    );
  };

  const admit = async (req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path !== STREAM_PATH) {
      socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    const full = (): boolean => deps.open() + pendingUpgrades >= limits.maxConnections;
    if (deps.closing()) return refuse(socket, "KG_SHUTTING_DOWN", "replica is stopping");
    if (full()) return refuse(socket, "KG_TOO_MANY_CONNECTIONS", `${limits.maxConnections} connections open`);
    const address = socket.remoteAddress ?? "";
    const wait = limiter.retryInMs(address);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      return refuse(
        socket,
        "KG_AUTH_RATE_LIMITED",
        `${address} failed authentication more than ${limiter.perMinute} times a minute (burst ${AUTH_FAILURE_BURST}); retry in ${seconds} s`,
        undefined,
        seconds,
      );
    }
    pendingUpgrades++;
    let result: Awaited<ReturnType<Authenticator["authenticate"]>>;
    try {
      result = await auth.authenticate(bearerToken(req.headers.authorization));
    } catch (err) {
      result = { ok: false, code: "KG_AUTH_UNAVAILABLE", detail: (err as Error).message };
    } finally {
      pendingUpgrades--;
    }
    if (socket.destroyed) return;
    if (!result.ok) {
      if (result.code !== "KG_AUTH_UNAVAILABLE") limiter.failed(address);
      return refuse(socket, result.code, result.detail);
    }
    if (deps.closing()) return refuse(socket, "KG_SHUTTING_DOWN", "replica is stopping");
    if (full()) return refuse(socket, "KG_TOO_MANY_CONNECTIONS", `${limits.maxConnections} connections open`);
    deps.accept(req, socket, head, result.node, result.identity);
  };
  return admit;
}
