// A stream server in its own process, for tests that kill it with SIGKILL mid-stream.
// Its "cluster" is an append-only file of event ids (the custom-resource writes); on start it
// reads the file back, exactly as a restarted aggregator only knows what the cluster holds,
// and drops redeliveries of ids already written (what the real pipeline does by event id).
//   node crashable-aggregator.ts <port> <cluster-file> <token=node>...
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { systemClock } from "../../../shared/clock.ts";
import { silentLogger } from "../../../shared/log.ts";
import { createRegistry } from "../../../shared/metrics.ts";
import { createStaticAuthenticator, createStreamMetrics, startStreamServer } from "../index.ts";

const [portArg, clusterFile, ...tokens] = process.argv.slice(2);
if (!portArg || !clusterFile)
  throw new Error("usage: crashable-aggregator.ts <port> <cluster-file> <token=node>...");
const written = new Set(
  existsSync(clusterFile) ? readFileSync(clusterFile, "utf8").split("\n").filter(Boolean) : [],
);
const log = silentLogger();
const server = await startStreamServer({
  port: Number(portArg),
  host: "127.0.0.1",
  auth: createStaticAuthenticator(tokens, log),
  handler: {
    async handleBatch(_ctx, events) {
      await new Promise((r) => setTimeout(r, Math.random() * 8)); // the API server's latency
      const fresh = events.map((e) => e.id ?? "").filter((id) => !written.has(id));
      if (fresh.length > 0) appendFileSync(clusterFile, `${fresh.join("\n")}\n`);
      for (const id of fresh) written.add(id);
      return { dropped: events.length - fresh.length };
    },
  },
  clock: systemClock,
  log,
  metrics: createStreamMetrics(createRegistry({ defaultMetrics: false })),
  limits: {
    maxPayloadBytes: 4 << 20,
    maxBatchEvents: 5000,
    maxEventsPerSecond: 1_000_000,
    maxConnections: 100,
    heartbeatIntervalMs: 60_000,
  },
});
process.stdout.write(`listening ${server.port}\n`);
