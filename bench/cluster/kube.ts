// The bench's view of the local Kubernetes API server (test/kube-api): it starts one in its
// own process, applies the real CRDs with the real kubectl, and talks to it over HTTPS like
// any client would (creating pods, patching their status, watching resources).
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { type Child, REPO_ROOT, startChild, waitFor } from "../proc/child.ts";

const run = promisify(execFile);

/** Where the local API server runs (a child process: its work is never charged to what we measure). */
export interface KubeApiHandle {
  url: string;
  kubeconfigPath: string;
  adminToken: string;
  /** PEM of the server's self-signed certificate when it serves https. */
  caCert?: string;
  child: Child;
}

export interface BenchKube {
  api: KubeApiHandle;
  /** Keep-alive HTTPS agent trusting the server's certificate. */
  agent: Agent;
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown>;
  kubectl(...args: string[]): Promise<string>;
  /** Requests served so far by "verb resource", e.g. { "patch kernelwhispers/status": 3 }. */
  counters(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/**
 * Starts test/kube-api (`test/kube-api/main.ts`) as a child process, applies the CRDs with
 * kubectl and creates the kernel-gossip namespace.
 */
export async function startBenchKube(logDir: string): Promise<BenchKube> {
  const kubeconfigPath = join(logDir, "kubeconfig.yaml");
  let serving = false;
  const child = startChild({
    name: "kube-api",
    logDir,
    args: [join(REPO_ROOT, "test/kube-api/main.ts"), "--kubeconfig", kubeconfigPath],
    onLine: (line) => {
      if (line.startsWith("kubeconfig:")) serving = true;
    },
  });
  let agent: Agent | undefined;
  try {
    await waitFor("the local API server", () => (serving ? true : undefined), { timeoutMs: 30_000, child });
    const config = parse(readFileSync(kubeconfigPath, "utf8")) as {
      clusters: { cluster: { server: string; "certificate-authority-data"?: string } }[];
      users: { user: { token: string } }[];
    };
    const cluster = config.clusters[0]?.cluster;
    const ca = cluster?.["certificate-authority-data"];
    const api: KubeApiHandle = {
      url: cluster?.server ?? "",
      kubeconfigPath,
      adminToken: config.users[0]?.user.token ?? "",
      child,
      ...(ca ? { caCert: Buffer.from(ca, "base64").toString("utf8") } : {}),
    };
    const https = new Agent({ keepAlive: true, maxSockets: 32, ...(api.caCert ? { ca: api.caCert } : {}) });
    agent = https;
    const request = async (
      method: string,
      path: string,
      body?: unknown,
      contentType?: string,
    ): Promise<unknown> => {
      const res = await send(api, https, method, path, body, contentType);
      const text = await readAll(res);
      if ((res.statusCode ?? 0) >= 300)
        throw new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
      return text ? JSON.parse(text) : undefined;
    };
    const kubectl = async (...args: string[]): Promise<string> => {
      const { stdout } = await run("kubectl", ["--kubeconfig", kubeconfigPath, ...args], {
        cwd: REPO_ROOT,
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    };
    await kubectl("apply", "-k", join(REPO_ROOT, "crds"));
    await kubectl("create", "namespace", "kernel-gossip");
    return {
      api,
      agent: https,
      request,
      kubectl,
      counters: async () => (await request("GET", "/__control/counters")) as Record<string, number>,
      close: async () => {
        https.destroy();
        await child.stop();
      },
    };
  } catch (err) {
    agent?.destroy();
    await child.stop();
    throw err;
  }
}

function send(
  api: KubeApiHandle,
  agent: Agent,
  method: string,
  path: string,
  body?: unknown,
  contentType?: string,
): Promise<IncomingMessage> {
  const url = new URL(path, api.url);
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const headers: Record<string, string> = {
    authorization: `Bearer ${api.adminToken}`,
    accept: "application/json",
  };
  if (payload !== undefined) {
    headers["content-type"] = contentType ?? "application/json";
    headers["content-length"] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req =
      url.protocol === "https:"
        ? httpsRequest(url, { method, headers, agent }, resolve)
        : httpRequest(url, { method, headers }, resolve);
    req.on("error", reject);
    req.end(payload);
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export interface WatchHandle {
  stop(): void;
  /** Resolves once the watch's HTTP response has started (events from now on are seen). */
  started: Promise<void>;
}

/** Streams a watch (`?watch=true`) and calls `onEvent` for each event as it arrives. */
export function watch(
  kube: BenchKube,
  path: string,
  onEvent: (type: string, object: Record<string, unknown>) => void,
): WatchHandle {
  let stopped = false;
  let res: IncomingMessage | undefined;
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const sep = path.includes("?") ? "&" : "?";
  (async () => {
    res = await send(kube.api, kube.agent, "GET", `${path}${sep}watch=true&allowWatchBookmarks=false`);
    if (stopped) {
      res.destroy();
      return;
    }
    if (res.statusCode !== 200)
      throw new Error(`watch ${path}: HTTP ${res.statusCode}: ${await readAll(res)}`);
    markStarted();
    let buffered = "";
    res.setEncoding("utf8");
    for await (const chunk of res) {
      buffered += chunk as string;
      let nl = buffered.indexOf("\n");
      while (nl !== -1) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) {
          const event = JSON.parse(line) as { type: string; object: Record<string, unknown> };
          onEvent(event.type, event.object);
        }
        nl = buffered.indexOf("\n");
      }
    }
  })().catch((err: unknown) => {
    if (!stopped) process.stderr.write(`bench: watch ${path} ended: ${String(err)}\n`);
  });
  return {
    stop: () => {
      stopped = true;
      res?.destroy();
    },
    started,
  };
}
