// The thin Kubernetes client the agent needs: credentials (in-cluster service account or a
// kubeconfig file), a JSON GET (list) and a watch stream, over node:https with one keep-alive
// agent. @kubernetes/client-node loads every generated API and model (~24 MB of JavaScript,
// +70 MiB RSS; issue #18, docs/adr/0010) for the two calls the agent makes; the aggregator,
// which uses many APIs, keeps client-node and uses only this watch (shared/kube.ts adapts it).
import { readFileSync } from "node:fs";
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";

/** What a request needs besides the path: the server, TLS material and headers. */
export interface KubeEndpoint {
  /** https://host:port (or http:// for a local test server). */
  server(): string;
  /** Fills TLS options (ca, cert, key, rejectUnauthorized) and headers (Authorization) of one request. */
  apply(options: RequestOptions & { headers: Record<string, string> }): Promise<void> | void;
}

/** The API server refused a request, or it failed on the way: says which request and why. */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  /** HTTP status (410 Gone, 403 Forbidden, …); undefined when no response came back. */
  readonly code: number | undefined;
  constructor(message: string, code: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

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

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Credentials from a kubeconfig file when given, else the in-cluster service account. */
export function loadKubeEndpoint(kubeconfigPath: string | undefined): KubeEndpoint {
  return kubeconfigPath ? kubeconfigEndpoint(kubeconfigPath) : inClusterEndpoint();
}

/** The pod's service account: token (re-read per request: projected tokens rotate) and CA. */
export function inClusterEndpoint(dir = SERVICE_ACCOUNT, env = process.env): KubeEndpoint {
  return {
    server() {
      const host = env.KUBERNETES_SERVICE_HOST;
      const port = env.KUBERNETES_SERVICE_PORT;
      if (!host || !port)
        throw new Error(
          "no API server: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not running in a pod) and no --kubeconfig was given; pass --kubeconfig (or KUBECONFIG) outside a cluster",
        );
      return `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
    },
    apply(options) {
      options.ca = readCredential(`${dir}/ca.crt`, "the service-account CA");
      options.headers.Authorization = `Bearer ${readCredential(`${dir}/token`, "the service-account token").trim()}`;
    },
  };
}

interface KubeconfigFile {
  "current-context"?: string;
  clusters?: { name?: string; cluster?: Record<string, unknown> }[];
  users?: { name?: string; user?: Record<string, unknown> }[];
  contexts?: { name?: string; context?: { cluster?: string; user?: string } }[];
}

/**
 * A kubeconfig's current context: server, CA (file or data), insecure-skip-tls-verify,
 * tls-server-name; user token, tokenFile, client certificate and key (file or data), basic
 * auth. Exec plugins and auth providers are refused with a message: the agent runs on a
 * service account; a kubeconfig is for development and tests.
 */
export function kubeconfigEndpoint(path: string): KubeEndpoint {
  let doc: KubeconfigFile;
  try {
    doc = (parseYaml(readFileSync(path, "utf8")) ?? {}) as KubeconfigFile;
  } catch (err) {
    throw new Error(`cannot read kubeconfig ${path}: ${describe(err)}; check --kubeconfig (KUBECONFIG)`, {
      cause: err,
    });
  }
  const where = `kubeconfig ${path}`;
  const contextName = doc["current-context"];
  const context = doc.contexts?.find((c) => c.name === contextName)?.context;
  if (!context)
    throw new Error(`${where}: current-context ${JSON.stringify(contextName)} is not among its contexts`);
  const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== "string")
    throw new Error(`${where}: cluster ${JSON.stringify(context.cluster)} is missing or has no server`);
  const user = doc.users?.find((u) => u.name === context.user)?.user ?? {};
  if (user.exec || user["auth-provider"])
    throw new Error(
      `${where}: user ${JSON.stringify(context.user)} authenticates through an exec plugin or auth provider, which kernel-gossip does not run; use a token, a token file or a client certificate`,
    );
  const base = dirname(resolve(path));
  const material = (dataKey: string, fileKey: string, what: string): Buffer | undefined => {
    const source = { ...cluster, ...user };
    const data = source[dataKey];
    if (typeof data === "string") return Buffer.from(data, "base64");
    const file = source[fileKey];
    if (typeof file === "string")
      return Buffer.from(readCredential(resolve(base, file), `${what} of ${where}`));
    return undefined;
  };
  const server = cluster.server;
  const ca = material("certificate-authority-data", "certificate-authority", "the CA");
  const cert = material("client-certificate-data", "client-certificate", "the client certificate");
  const key = material("client-key-data", "client-key", "the client key");
  const insecure = cluster["insecure-skip-tls-verify"] === true;
  const serverName = typeof cluster["tls-server-name"] === "string" ? cluster["tls-server-name"] : undefined;
  return {
    server: () => server,
    apply(options) {
      if (ca) options.ca = ca;
      if (cert) options.cert = cert;
      if (key) options.key = key;
      if (insecure) options.rejectUnauthorized = false;
      if (serverName) options.servername = serverName;
      if (typeof user.token === "string") options.headers.Authorization = `Bearer ${user.token}`;
      else if (typeof user.tokenFile === "string")
        options.headers.Authorization = `Bearer ${readCredential(resolve(base, user.tokenFile), `the token file of ${where}`).trim()}`;
      else if (typeof user.username === "string")
        options.headers.Authorization = `Basic ${Buffer.from(`${user.username}:${String(user.password ?? "")}`).toString("base64")}`;
    },
  };
}

function readCredential(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${what} (${file}): ${describe(err)}`, { cause: err });
  }
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
        throw new KubeApiError(`GET ${url}: the answer is not JSON (${describe(err)})`, res.statusCode, {
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
      done(new KubeApiError(`GET ${url}: ${describe(err)}`, undefined, { cause: err }));
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
            done(new KubeApiError(`GET ${url}: a watch event is not JSON (${describe(err)})`, undefined));
            return;
          }
          onEvent(String(event.type), event.object);
        }
      });
      res.once("end", () => done(undefined));
      res.once("error", (err) =>
        done(new KubeApiError(`GET ${url}: ${describe(err)}`, undefined, { cause: err })),
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
        `invalid API server URL ${JSON.stringify(server)}: ${describe(err)}`,
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
      reject(new KubeApiError(`GET ${url}: ${describe(err)}`, undefined, { cause: err })),
    );
  });
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      body += chunk;
    });
    res.once("end", () => resolveBody(body));
    res.once("error", reject);
  });
}

/** The API server's Status message when there is one: "pods is forbidden: User …". */
function statusError(url: string, res: IncomingMessage, body: string): KubeApiError {
  let message = "";
  try {
    message = String((JSON.parse(body) as { message?: unknown }).message ?? "");
  } catch {
    message = body.slice(0, 200);
  }
  return new KubeApiError(
    `GET ${url}: ${res.statusCode} ${res.statusMessage ?? ""}${message ? `: ${message}` : ""}`,
    res.statusCode,
  );
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
  return `${err.message}${cause}`;
}
