// The bench's view of the local Kubernetes API server (test/kube-api): it starts one,
// applies the real CRDs with the real kubectl, and talks to it over plain HTTP like any
// client would (creating pods, patching their status, watching resources).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../proc/child.ts";

const run = promisify(execFile);

/** The part of test/kube-api's handle the bench uses. */
export interface KubeApiHandle {
  url: string;
  kubeconfigPath: string;
  adminToken: string;
  counters: { get(verb: string, resource: string): number };
  close(): Promise<void>;
}

export interface BenchKube {
  api: KubeApiHandle;
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown>;
  kubectl(...args: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startBenchKube(): Promise<BenchKube> {
  const mod = (await import(new URL("../../test/kube-api/index.ts", import.meta.url).href)) as {
    startKubeApi(options?: Record<string, unknown>): Promise<KubeApiHandle>;
  };
  const api = await mod.startKubeApi({});
  const request = async (
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<unknown> => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${api.adminToken}`,
      accept: "application/json",
    };
    if (body !== undefined) headers["content-type"] = contentType ?? "application/json";
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers,
      body: body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  };
  const kubectl = async (...args: string[]): Promise<string> => {
    const { stdout } = await run("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], {
      cwd: REPO_ROOT,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  };
  try {
    await kubectl("apply", "-f", join(REPO_ROOT, "crds"));
    await kubectl("create", "namespace", "kernel-gossip");
  } catch (err) {
    await api.close();
    throw err;
  }
  return { api, request, kubectl, close: () => api.close() };
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
  const abort = new AbortController();
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const sep = path.includes("?") ? "&" : "?";
  (async () => {
    const res = await fetch(`${kube.api.url}${path}${sep}watch=true&allowWatchBookmarks=false`, {
      headers: { authorization: `Bearer ${kube.api.adminToken}` },
      signal: abort.signal,
    });
    if (!res.ok || !res.body) throw new Error(`watch ${path}: HTTP ${res.status}`);
    markStarted();
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
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
    if (!abort.signal.aborted) process.stderr.write(`bench: watch ${path} ended: ${String(err)}\n`);
  });
  return { stop: () => abort.abort(), started };
}
