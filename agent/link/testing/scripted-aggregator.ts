// A raw WebSocket server speaking the wire protocol by hand, for link tests that need exact
// control over what the aggregator answers (or doesn't).
import { type WebSocket, WebSocketServer } from "ws";
import { decodeEnvelope, type Envelope, type EnvelopeInit, encodeEnvelope } from "../../../shared/proto.ts";

export interface ScriptedAggregator {
  port: number;
  url: string;
  frames: Envelope[];
  sockets: WebSocket[];
  connections: number;
  send(ws: WebSocket, envelope: EnvelopeInit): void;
  close(): Promise<void>;
}

export async function startScriptedAggregator(
  options: {
    autoPong?: boolean;
    /** Listen on this port (0 = any), e.g. to stand in for an aggregator that went away. */
    port?: number;
    onFrame?: (ws: WebSocket, frame: Envelope, agg: ScriptedAggregator) => void;
  } = {},
): Promise<ScriptedAggregator> {
  const wss = new WebSocketServer({
    port: options.port ?? 0,
    host: "127.0.0.1",
    perMessageDeflate: false,
    autoPong: options.autoPong ?? true,
  });
  await new Promise((r) => wss.once("listening", r));
  const port = (wss.address() as { port: number }).port;
  const agg: ScriptedAggregator = {
    port,
    url: `ws://127.0.0.1:${port}/stream`,
    frames: [],
    sockets: [],
    connections: 0,
    send: (ws, envelope) => ws.send(encodeEnvelope(envelope)),
    close: () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
  wss.on("connection", (ws) => {
    agg.connections++;
    agg.sockets.push(ws);
    ws.on("message", (data: Buffer) => {
      const frame = decodeEnvelope(data);
      agg.frames.push(frame);
      options.onFrame?.(ws, frame, agg);
    });
  });
  return agg;
}
