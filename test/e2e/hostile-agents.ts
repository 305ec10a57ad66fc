// Harness for the "nothing lost, nobody blocked" tests (issue 12): the real aggregator
// (`bin/kernel-gossip aggregator`, a child process with the real pipeline and CR writer)
// against the local API server, and agents speaking the wire protocol directly over a real
// WebSocket, so a test controls every byte a hostile or careless agent sends and sees each
// Ack or Reject as the agent would.

import type { ChildProcess } from "node:child_process";
import { vi } from "vitest";
import WebSocket from "ws";
import {
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  PROTOCOL_VERSION,
  type WireEvent,
} from "../../shared/proto.ts";
import type { KubeApi } from "../kube-api/index.ts";
import { roleProcesses } from "./role-processes.ts";

export { crashLoopEvent } from "./crash-loops.ts";

export interface AggregatorProcess {
  child: ChildProcess;
  streamPort: number;
  metricsPort: number;
  /** Its warning, error and spool lines ("aggregator: <JSON line>") and stderr ("stderr: …"). */
  logs: string[];
  stop(): Promise<void>;
}

/** Starts `bin/kernel-gossip aggregator` with static tokens; resolves once it accepts agents. */
export async function startAggregatorProcess(
  api: KubeApi,
  env: Record<string, string>,
): Promise<AggregatorProcess> {
  const roles = roleProcesses(() => api);
  let ports: { streamPort: number; metricsPort: number } | undefined;
  const child = await roles.start(
    "aggregator",
    {
      STREAM_PORT: "0",
      AUTH_MODE: "static",
      POD_NAME: "aggregator-0",
      POD_NAMESPACE: "kernel-gossip",
      POD_EVENTS: "false",
      LOG_LEVEL: "info",
      ...env,
    },
    "accepting agents",
    (line) => {
      const match = /"streamPort":(\d+),"metricsPort":(\d+)/.exec(line);
      if (!ports && match && line.includes("accepting agents"))
        ports = { streamPort: Number(match[1]), metricsPort: Number(match[2]) };
    },
  );
  if (!ports) throw new Error("the aggregator's ready line named no ports");
  return { child, ...ports, logs: roles.logs, stop: () => roles.stop(child, "SIGKILL") };
}

/** One agent connection speaking protobuf frames; every Ack and Reject is kept with its arrival time. */
export class WireAgent {
  readonly acks = new Map<number, { dropped: number; at: number }>();
  /** Config frames received (version of each). */
  readonly configs: string[] = [];
  readonly rejects: { code: string; message: string; seq: number; field: string }[] = [];
  closeCode: number | undefined;
  #ws: WebSocket;
  #seq = 0;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on("message", (data: Buffer) => {
      const env: Envelope = decodeEnvelope(new Uint8Array(data));
      if (env.config) this.configs.push(env.config.version ?? "");
      if (env.ack) this.acks.set(Number(env.ack.seq ?? 0), { dropped: env.ack.dropped ?? 0, at: Date.now() });
      if (env.reject) {
        this.rejects.push({
          code: env.reject.code ?? "",
          message: env.reject.message ?? "",
          seq: Number(env.reject.seq ?? 0),
          field: env.reject.field ?? "",
        });
      }
    });
    ws.on("close", (code) => {
      this.closeCode = code;
    });
  }

  /** `localAddress`: the source address to connect from (any of 127.0.0.0/8 on loopback). */
  static async connect(port: number, token: string, node: string, localAddress?: string): Promise<WireAgent> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/stream`, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
      ...(localAddress ? { localAddress } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    const agent = new WireAgent(ws);
    ws.send(
      encodeEnvelope({
        hello: {
          node,
          agentVersion: "hostile-test",
          protocolVersion: PROTOCOL_VERSION,
          instanceId: `${node}-i1`,
        },
      }),
    );
    return agent;
  }

  /** Sends one batch; returns its sequence number and when it was sent. */
  send(events: WireEvent[]): { seq: number; sentAt: number } {
    const seq = ++this.#seq;
    this.#ws.send(encodeEnvelope({ batch: { seq, events, sentAtMs: Date.now() } }));
    return { seq, sentAt: Date.now() };
  }

  close(): void {
    this.#ws.terminate();
  }
}

/** The value of one sample of a Prometheus text exposition (0 when absent). */
export async function metricValue(port: number, sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  for (const line of text.split("\n")) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return 0;
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      if (value === undefined || value === false)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      return value;
    },
    { timeout: timeoutMs, interval: 50 },
  );
}

/** One upgrade attempt with `token`; resolves with the HTTP status (101 when accepted). */
export function tryUpgrade(
  port: number,
  token: string,
  localAddress?: string,
): Promise<{ status: number; retryAfter?: string; code?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/stream`, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
      ...(localAddress ? { localAddress } : {}),
    });
    ws.once("open", () => {
      ws.terminate();
      resolve({ status: 101 });
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => {
        const retryAfter = res.headers["retry-after"];
        resolve({
          status: res.statusCode ?? 0,
          code: (JSON.parse(body || "{}") as { code?: string }).code,
          ...(typeof retryAfter === "string" ? { retryAfter } : {}),
        });
      });
    });
    ws.once("error", (err) => {
      if (!String(err.message).includes("Unexpected server response")) reject(err);
    });
  });
}

/** Creates a pod bound to `node` with the real kubectl; resolves with its uid. */
export async function createPod(
  kubectl: (...args: string[]) => Promise<string>,
  namespace: string,
  name: string,
  node: string,
  labels: Record<string, string>,
): Promise<string> {
  const { writeFile, mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), "kg-pod-"));
  const file = join(dir, "pod.json");
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace, labels },
      spec: { nodeName: node, containers: [{ name: "app", image: "registry.example/app:1" }] },
    }),
  );
  try {
    const created = JSON.parse(await kubectl("create", "-f", file, "-o", "json")) as {
      metadata: { uid: string };
    };
    return created.metadata.uid;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
