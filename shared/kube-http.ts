// The thin Kubernetes client the agent needs: a JSON GET (list) and a watch stream, over
// node:https with one keep-alive agent, on the credentials of shared/kube-endpoint.ts.
// @kubernetes/client-node loads every generated API and model (~24 MB of JavaScript, +70 MiB RSS; issue #18, docs/adr/0010) for the two calls the agent makes; the aggregator,
// which uses many APIs, keeps client-node and uses only this watch (shared/kube.ts adapts it).
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { describeError, KubeApiError, statusError } from "./kube-api-error.ts";
import type { KubeEndpoint } from "./kube-endpoint.ts";

export type WatchEventHandler = (type: string, object: unknown) => void;
export type WatchDoneHandler = (err: unknown) => void;

/** A watch: events as they come; `onDone(undefined)` when the server ends it normally. */
export interface Watcher {
  watch(
    path: string,
    query: Record<string, string>,
    onEvent: WatchEventHandler,
    onDone: WatchDoneHandler,
  ): Promise<AbortController>;
}

export interface KubeHttpOptions {
  /** Each list request is aborted after this long. */
  requestTimeoutMs?: number;
}

/** JSON GETs and watch streams against one API server, over one keep-alive agent. */
export class KubeHttp implements Watcher {
  #endpoint: KubeEndpoint;
  #agent = new HttpsAgent({ keepAlive: true, maxSockets: 4 });
  #requestTimeoutMs: number;

  constructor(endpoint: KubeEndpoint, options: KubeHttpOptions = {}) {
    this.#endpoint = endpoint;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** GET `path` with `query`; the parsed JSON body, or a KubeApiError naming the request. */
  async get<T>(path: string, query: Record<string, string> = {}): Promise<T> {
    const { req, url } = await this.#request(path, query);
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${this.#requestTimeoutMs} ms`)),
      this.#requestTimeoutMs,
    );
    try {
      const res = await responseOf(req, url);
      const body = await readBody(res);
      if (res.statusCode !== 200) throw statusError(url, res, body);
      try {
        return JSON.parse(body) as T;
      } catch (err) {
        throw new KubeApiError(`GET ${url}: the answer is not JSON (${describeError(err)})`, res.statusCode, {
          cause: err,
        });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * GET `path?watch=true&…`: each JSON line is handed to `onEvent(type, object)` in order.
   * Resolves once the server answered (or the request failed). `onDone(undefined)` when the
   * server ends the stream, `onDone(err)` when it fails or refuses (err.code is the HTTP
   * status). Nothing is called after `abort()`.
   */
  async watch(
    path: string,
    query: Record<string, string>,
    onEvent: WatchEventHandler,
    onDone: WatchDoneHandler,
  ): Promise<AbortController> {
    const controller = new AbortController();
    const { req, url } = await this.#request(path, { ...query, watch: "true" }, controller.signal);
    let finished = false;
    const done = (err: unknown): void => {
      if (finished || controller.signal.aborted) return;
      finished = true;
      onDone(err);
    };
    // Resolves once the server answered (the watch is registered there) or the request failed.
    let answered: () => void = () => {};
    const settled = new Promise<void>((resolveSettled) => {
      answered = resolveSettled;
    });
    req.once("error", (err) => {
      answered();
      done(new KubeApiError(`GET ${url}: ${describeError(err)}`, undefined, { cause: err }));
    });
    req.once("response", (res: IncomingMessage) => {
      answered();
      if (res.statusCode !== 200) {
        void readBody(res).then(
          (body) => done(statusError(url, res, body)),
          (err: unknown) => done(err),
        );
        return;
      }
      res.setEncoding("utf8");
      let buffered = "";
      res.on("data", (chunk: string) => {
        buffered += chunk;
        let nl = buffered.indexOf("\n");
        while (nl !== -1) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf("\n");
          if (line.trim() === "" || finished || controller.signal.aborted) continue;
          let event: { type?: unknown; object?: unknown };
          try {
            event = JSON.parse(line) as typeof event;
          } catch (err) {
            req.destroy();
            done(
              new KubeApiError(`GET ${url}: a watch event is not JSON (${describeError(err)})`, undefined),
            );
            return;
          }
          onEvent(String(event.type), event.object);
        }
      });
      res.once("end", () => done(undefined));
      res.once("error", (err) =>
        done(new KubeApiError(`GET ${url}: ${describeError(err)}`, undefined, { cause: err })),
      );
      res.once("close", () => {
        if (!res.complete) done(new KubeApiError(`GET ${url}: the connection closed mid-stream`, undefined));
      });
    });
    await settled;
    return controller;
  }

  /** Closes idle keep-alive connections (open watches are aborted by their owners). */
  close(): void {
    this.#agent.destroy();
  }

  async #request(
    path: string,
    query: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<{ req: ClientRequest; url: string }> {
    const server = this.#endpoint.server();
    const qs = new URLSearchParams(query).toString();
    let target: URL;
    try {
      target = new URL(`${path}${qs ? `?${qs}` : ""}`, server);
    } catch (err) {
      throw new KubeApiError(
        `invalid API server URL ${JSON.stringify(server)}: ${describeError(err)}`,
        undefined,
        {
          cause: err,
        },
      );
    }
    const url = target.toString();
    const options: RequestOptions & { headers: Record<string, string> } = {
      method: "GET",
      headers: { Accept: "application/json" },
      ...(signal && { signal }),
    };
    await this.#endpoint.apply(options);
    const secure = target.protocol === "https:";
    if (secure) options.agent = this.#agent;
    const req = (secure ? httpsRequest : httpRequest)(target, options);
    req.end();
    return { req, url };
  }
}

function responseOf(req: ClientRequest, url: string): Promise<IncomingMessage> {
  return new Promise((resolveResponse, reject) => {
    req.once("response", resolveResponse);
    req.once("error", (err) =>
      reject(new KubeApiError(`GET ${url}: ${describeError(err)}`, undefined, { cause: err })),
    );
  });
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    // The response outlives this read (its request keeps it, and the keep-alive socket can keep
    // the request): once read, its listeners reach neither the body nor this promise, which
    // holds it (a pod list is hundreds of KiB).
    let pending: { resolve: (body: string) => void; reject: (err: Error) => void } | undefined = {
      resolve,
      reject,
    };
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      body += chunk;
    });
    res.once("end", () => {
      const whole = body;
      body = "";
      pending?.resolve(whole);
      pending = undefined;
    });
    res.once("error", (err) => {
      pending?.reject(err);
      pending = undefined;
    });
  });
}
