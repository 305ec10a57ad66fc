// The small HTTP server every process runs for /metrics, /healthz and /readyz.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { Logger } from "./log.ts";

export interface HealthCheck {
  /** Liveness: false only when the process is wedged and a restart would help. */
  live(): boolean;
  /** Readiness: a short reason when not ready, undefined when ready. */
  notReadyReason(): string | undefined;
}

export interface OpsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startOpsServer(options: {
  port: number;
  host?: string;
  registry: Registry;
  health: HealthCheck;
  log: Logger;
}): Promise<OpsServer> {
  const { registry, health, log } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (path === "/metrics") {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          log.error({ err }, "rendering /metrics failed");
          res.writeHead(500).end("metrics unavailable\n");
        });
      return;
    }
    if (path === "/healthz" || path === "/livez") {
      const ok = health.live();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok\n" : "not live\n");
      return;
    }
    if (path === "/readyz") {
      const reason = health.notReadyReason();
      res
        .writeHead(reason ? 503 : 200, { "content-type": "text/plain" })
        .end(reason ? `not ready: ${reason}\n` : "ok\n");
      return;
    }
    res
      .writeHead(404, { "content-type": "text/plain" })
      .end("not found: try /metrics, /healthz or /readyz\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port }, "serving /metrics, /healthz and /readyz");
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
