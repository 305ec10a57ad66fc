// The aggregator's agent endpoint: WebSocket (binary protobuf frames) on /stream.
// Authentication happens during the HTTP upgrade (`noServer` + the server's 'upgrade'
// event): a refused agent gets 401/403/503 with a JSON body {code, message, hint} and
// never a socket. Each connection is bound to a node (see auth.ts) and limited
// (maxPayload, events per batch, event rate); the connection count is limited too.
import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { WebSocketServer } from "ws";
import type { Clock, Timer } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { ConfigFrame } from "../../shared/proto.ts";
import type { PendingBytesPressure } from "../types/index.ts";
import { createAdmission, STREAM_PATH } from "./admission.ts";
import type { Authenticator } from "./auth.ts";
import { AgentConnection } from "./connection.ts";
import type { StreamMetrics } from "./metrics.ts";
import type { ConnectionInfo, StreamBatchHandler } from "./types.ts";

export { STREAM_PATH } from "./admission.ts";
export { type Authenticator, type AuthResult, bearerToken, createStaticAuthenticator } from "./auth.ts";
export { AGGREGATOR_CAPABILITIES } from "./hello.ts";
export { createStreamMetrics, type StreamMetrics } from "./metrics.ts";
export { createTokenReviewAuthenticator } from "./token-review.ts";
export type { ConnectionInfo, StreamBatchContext, StreamBatchHandler } from "./types.ts";

export interface ConfigSourcePort {
  current(): ConfigFrame | undefined;
  onChange(listener: (config: ConfigFrame) => void): void;
}

export interface StreamLimits {
  maxPayloadBytes: number;
  maxBatchEvents: number;
  maxEventsPerSecond: number;
  maxConnections: number;
  heartbeatIntervalMs: number;
  /** Failed authentications allowed per source address and minute (0: unlimited); see upgrade-limit.ts. */
  authFailuresPerMinute?: number;
}

export interface StreamServerDeps {
  port: number;
  host?: string;
  /** PEM contents (not paths) of the certificate and key; serves wss:// when given. */
  tls?: { cert: string; key: string };
  auth: Authenticator;
  handler: StreamBatchHandler;
  configSource?: ConfigSourcePort;
  /** The writer's backpressure (emit/write-pressure.ts): whose connections to stop reading. */
  pressure?: PendingBytesPressure | undefined;
  clock: Clock;
  log: Logger;
  metrics: StreamMetrics;
  limits: StreamLimits;
}

export interface StreamServer {
  port: number;
  connections(): ConnectionInfo[];
  /** True while agents can connect (false once close() began). */
  listening(): boolean;
  /**
   * Graceful: stops accepting agents and reading frames, lets the batches in flight finish and
   * acks them (up to `drainMs`, default 10 s; the pipeline must be flushing meanwhile), then
   * sends Reject KG_SHUTTING_DOWN to every agent and closes. Batches still in flight at the
   * deadline are not acked (the agents resend them).
   */
  close(options?: { drainMs?: number }): Promise<void>;
}

/** How long close() waits for agents to acknowledge the close before cutting them off. */
const CLOSE_GRACE_MS = 3_000;
/** Default time close() lets batches in flight finish (and be acked) before closing. */
export const DEFAULT_DRAIN_MS = 10_000;

export async function startStreamServer(deps: StreamServerDeps): Promise<StreamServer> {
  const { auth, clock, limits, metrics } = deps;
  const log = deps.log.child({ component: "stream" });
  const connections = new Set<AgentConnection>();
  let closing = false;
  let heartbeat: Timer | undefined;

  const server: Server = deps.tls
    ? createHttpsServer({ cert: deps.tls.cert, key: deps.tls.key })
    : createHttpServer();
  server.on("request", (_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end(`WebSocket only: connect to ${STREAM_PATH}\n`);
  });
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // Frames up to twice the limit are read so the frame handler can refuse them with a
    // Reject naming the batch; beyond that ws closes with 1009 itself (counted as well).
    maxPayload: limits.maxPayloadBytes * 2,
    clientTracking: true,
  });
  const connectionDeps = {
    handler: deps.handler,
    limits,
    clock,
    log,
    metrics,
    currentConfig: () => deps.configSource?.current(),
    bytesShare: () => (pressure?.pressing() ? share() : undefined),
  };
  // Backpressure (emit/write-pressure.ts): while the writer holds too many bytes, connections
  // over their share of the headroom are not read from; all are read again when it ends.
  const pressure = deps.pressure;
  const share = () => (pressure ? pressure.headroomBytes / Math.max(1, connections.size) : 0);
  pressure?.onChange(() => {
    const pressing = pressure.pressing();
    const changed: AgentConnection[] = [];
    for (const c of connections) {
      const hold = pressing && c.inFlightBytes > share();
      if (pressing ? hold && c.holdForBytes(true) : c.holdForBytes(false)) changed.push(c);
    }
    const nodes = [...new Set(changed.map((c) => c.info.node ?? c.info.identity))];
    const detail = {
      nodes: nodes.slice(0, 10),
      connections: changed.length,
      heldBytes: pressure.heldBytes(),
      maxBytes: pressure.maxBytes,
      shareBytes: Math.round(share()),
    };
    if (pressing)
      log.warn(
        detail,
        `the writer's objects hold more than ${Math.round(100 * (1 - pressure.headroomBytes / pressure.maxBytes))}% of --max-pending-bytes: stopped reading from ${changed.length} agent connection(s) with more than their share (${Math.round(share())} bytes) of batches not yet acknowledged ${nodes.length > 0 ? ` (${nodes.slice(0, 5).join(", ")}${nodes.length > 5 ? ", …" : ""})` : ""}, and from any other that goes over it, until it is well under it again. Their agents keep the batches: nothing is lost, events reach the cluster late. Writes are behind: is the API server throttling, or a node flooding? Raise --max-pending-bytes or --write-qps, or add replicas (gauge kernel_gossip_aggregator_connections_paused)`,
      );
    else
      log.info(
        detail,
        `the writer's objects are well under --max-pending-bytes again: reading from ${changed.length} paused agent connection(s) again`,
      );
  });
  metrics.sources.paused = () => {
    const counts = { in_flight: 0, pending_bytes: 0 };
    for (const c of connections) {
      const reason = c.pausedFor;
      if (reason) counts[reason]++;
    }
    return counts;
  };

  const admit = createAdmission({
    auth,
    limits,
    clock,
    log,
    metrics,
    closing: () => closing,
    open: () => connections.size,
    accept: (req, socket, head, boundNode, identity) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        const info: ConnectionInfo = {
          id: randomUUID(),
          identity,
          remoteAddress: socket.remoteAddress ?? "",
        };
        const connection = new AgentConnection(ws, info, boundNode, connectionDeps);
        connections.add(connection);
        metrics.connections.inc({ outcome: "accepted" });
        metrics.connectedAgents.set(connections.size);
        ws.on("close", (code, reason) => {
          connections.delete(connection);
          metrics.connectedAgents.set(connections.size);
          log.info(
            { connection: info.id, node: info.node, code, reason: reason.toString() },
            "agent disconnected",
          );
        });
      }),
  });

  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on("error", (err) => log.debug({ err }, "agent socket error during upgrade"));
    admit(req, socket, head).catch((err: unknown) => {
      log.error({ err }, "agent upgrade failed unexpectedly");
      socket.destroy();
    });
  });

  const beat = (): void => {
    for (const connection of connections) {
      if (connection.missed >= 2) {
        log.warn(
          { connection: connection.info.id, node: connection.info.node },
          "agent silent for two heartbeat intervals; dropping the connection (it reconnects)",
        );
        connection.terminate();
      } else connection.ping();
    }
    heartbeat = clock.setTimeout(beat, limits.heartbeatIntervalMs);
  };
  heartbeat = clock.setTimeout(beat, limits.heartbeatIntervalMs);

  deps.configSource?.onChange((config) => {
    if (closing) return;
    for (const connection of connections) connection.sendConfig(config);
    log.info({ version: config.version, agents: connections.size }, "pushed agent config");
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(deps.port, deps.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => log.error({ err }, "stream server error"));
  const port = (server.address() as AddressInfo).port;
  log.info({ port, tls: Boolean(deps.tls), path: STREAM_PATH, limits }, "agent stream endpoint listening");

  return {
    port,
    connections: () => [...connections].map((c) => ({ ...c.info })),
    listening: () => server.listening && !closing,
    async close(options) {
      if (closing) return;
      closing = true;
      const drainMs = options?.drainMs ?? DEFAULT_DRAIN_MS;
      if (heartbeat) clock.clearTimeout(heartbeat);
      const closed = [...wss.clients].map(
        (ws) =>
          new Promise<void>((resolve) =>
            ws.readyState === ws.CLOSED ? resolve() : ws.once("close", () => resolve()),
          ),
      );
      const drained = await Promise.all([...connections].map((c) => c.drain(drainMs)));
      const acked = drained.reduce((n, d) => n + d.acked, 0);
      const unacked = drained.reduce((n, d) => n + d.unacked, 0);
      log.info({ agents: drained.length, acked, unacked }, "agent connections drained");
      const grace = setTimeout(() => {
        for (const ws of wss.clients) ws.terminate();
      }, CLOSE_GRACE_MS);
      await Promise.all(closed);
      clearTimeout(grace);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      wss.close();
      log.info("agent stream endpoint closed");
    },
  };
}
