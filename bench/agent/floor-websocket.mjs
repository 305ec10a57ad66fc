// The floor of the agent-memory case: a bare Node.js process holding one open WebSocket
// (ws, deflate off, like the agent) and nothing else. Plain JavaScript, so no TypeScript
// stripping is loaded: the cheapest process that does the one thing every agent must do.
//   node bench/agent/floor-websocket.mjs ws://127.0.0.1:<port>/
import WebSocket from "ws";

const ws = new WebSocket(process.argv[2], { perMessageDeflate: false });
ws.on("open", () => process.stdout.write("open\n"));
ws.on("error", (err) => {
  process.stderr.write(`floor websocket: ${err.message}\n`);
  process.exit(1);
});
process.on("SIGTERM", () => {
  ws.terminate();
  process.exit(0);
});
