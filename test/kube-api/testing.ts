/**
 * Helpers for the kube-api's own tests (and handy for others): raw HTTPS
 * requests and watch streams trusting the server's certificate, and kubectl
 * runs against a server's kubeconfig with a private discovery cache.
 */
import { execFile, spawn } from "node:child_process";
import { request as httpsRequest } from "node:https";
import { dirname, join } from "node:path";
import { vi } from "vitest";
import type { KubeApi } from "./index.ts";
import type { Json } from "./types.ts";

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Json;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** default: the admin token; null: no Authorization header */
  token?: string | null;
}

export function call(api: KubeApi, method: string, path: string, o: RequestOptions = {}): Promise<HttpReply> {
  const body =
    o.body === undefined ? undefined : typeof o.body === "string" ? o.body : JSON.stringify(o.body);
  const headers: Record<string, string> = { Accept: o.accept ?? "application/json" };
  const token = o.token === undefined ? api.adminToken : o.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    headers["Content-Type"] = o.contentType ?? "application/json";
    headers["Content-Length"] = String(Buffer.byteLength(body));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${api.url}${path}`, { method, headers, ca: api.caCert }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: Json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

export interface WatchStream {
  status: Promise<number>;
  /** the next watch event (waits up to timeoutMs) */
  next(timeoutMs?: number): Promise<Json>;
  /** resolves when the server ends or breaks the stream */
  ended: Promise<"end" | "error">;
  close(): void;
}

export function watch(api: KubeApi, path: string, accept = "application/json"): WatchStream {
  const queue: Json[] = [];
  const waiters: ((v: Json) => void)[] = [];
  let resolveStatus: (n: number) => void = () => {};
  let resolveEnded: (v: "end" | "error") => void = () => {};
  const status = new Promise<number>((r) => {
    resolveStatus = r;
  });
  const ended = new Promise<"end" | "error">((r) => {
    resolveEnded = r;
  });
  const req = httpsRequest(
    `${api.url}${path}`,
    { headers: { Authorization: `Bearer ${api.adminToken}`, Accept: accept }, ca: api.caCert },
    (res) => {
      resolveStatus(res.statusCode ?? 0);
      let buf = "";
      res.on("data", (c: Buffer) => {
        buf += c.toString("utf8");
        let i = buf.indexOf("\n");
        while (i >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) {
            const ev = JSON.parse(line);
            const w = waiters.shift();
            if (w) w(ev);
            else queue.push(ev);
          }
          i = buf.indexOf("\n");
        }
      });
      res.on("end", () => resolveEnded("end"));
      res.on("error", () => resolveEnded("error"));
      res.on("aborted", () => resolveEnded("error"));
    },
  );
  req.on("error", () => resolveEnded("error"));
  req.end();
  return {
    status,
    ended,
    next(timeoutMs = 2000) {
      const q = queue.shift();
      if (q !== undefined) return Promise.resolve(q);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no watch event within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((v) => {
          clearTimeout(t);
          resolve(v);
        });
      });
    },
    close: () => req.destroy(),
  };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectlArgs(api: KubeApi, args: string[]): string[] {
  return [
    "--kubeconfig",
    api.kubeconfigPath,
    "--cache-dir",
    join(dirname(api.kubeconfigPath), "kubectl-cache"),
    ...args,
  ];
}

/** Run kubectl like a user would; never throws on a non-zero exit. */
export function kubectl(api: KubeApi, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile("kubectl", kubectlArgs(api, args), { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** `kubectl get -w`-style long runs: collect stdout lines until stop(). */
export function kubectlStream(
  api: KubeApi,
  args: string[],
): { lines: string[]; waitFor(n: number, ms?: number): Promise<void>; stop(): void } {
  const child = spawn("kubectl", kubectlArgs(api, args), { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let buf = "";
  child.stdout.on("data", (c: Buffer) => {
    buf += c.toString("utf8");
    const parts = buf.split("\n");
    buf = parts.pop() ?? "";
    lines.push(...parts);
  });
  return {
    lines,
    waitFor: (n, ms = 15_000) =>
      vi.waitFor(
        () => {
          if (lines.length < n)
            throw new Error(`kubectl printed ${lines.length} lines, wanted ${n}: ${lines.join("\n")}`);
        },
        { timeout: ms, interval: 20 },
      ),
    stop: () => child.kill("SIGTERM"),
  };
}
