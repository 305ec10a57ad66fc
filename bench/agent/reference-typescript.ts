// Reference process for the agent-memory breakdown: the floor's one WebSocket, but started
// from a .ts file, so Node's TypeScript type stripping is loaded as it is for the agent.
//   node bench/agent/reference-typescript.ts ws://127.0.0.1:<port>/
import WebSocket from "ws";

const ws: WebSocket = new WebSocket(process.argv[2] ?? "", { perMessageDeflate: false });
ws.on("open", () => process.stdout.write("ready\n"));
ws.on("error", (err: Error) => {
  process.stderr.write(`reference websocket: ${err.message}\n`);
  process.exit(1);
});
process.on("SIGTERM", () => {
  ws.terminate();
  process.exit(0);
});
