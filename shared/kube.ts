// Kubernetes client configuration, shared by both roles: a kubeconfig file when given
// (development, tests, the demo), else the in-cluster service-account config.
import { STATUS_CODES } from "node:http";
import {
  type ApiConstructor,
  type ApiType,
  type ConfigurationOptions,
  createConfiguration,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  ServerConfiguration,
  wrapHttpLibrary,
} from "@kubernetes/client-node";
import { causeChain, FatalError } from "./errors.ts";
import { KubeHttp } from "./kube-http.ts";
import { VERSION } from "./version.ts";

/**
 * A KubeConfig whose typed API clients (`makeApiClient`) share one connection pool per
 * cluster and user, so requests reuse keep-alive TLS connections.
 *
 * client-node 2.x builds a new undici Agent for every request of a TLS cluster
 * (`applySecurityAuthentication` → its private `createDispatcher`): every request paid a TCP
 * and TLS handshake, about 30 % of the aggregator's CPU under fan-in (BENCHMARKS.md). The
 * only public hook is the one used here: `applySecurityAuthentication` is what the generated
 * clients call (as the `default` auth method) and `RequestContext.setDispatcher` is public.
 * The first dispatcher client-node builds for a (server, user) pair — with the kubeconfig's
 * TLS options, keep-alive probes every 30 s — serves every later request of that pair; the
 * per-request one it builds is never connected and closed at once. Headers (the bearer
 * token, re-read by client-node from its file) are still applied per request.
 *
 * Watches (`Watch`) take their dispatcher elsewhere and hold one long connection anyway.
 */
export class KeepAliveKubeConfig extends KubeConfig {
  #pools = new Map<string, NonNullable<ReturnType<RequestContext["getDispatcher"]>>>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (!fresh) return; // plain HTTP: undici's global dispatcher already keeps connections alive
    const key = `${this.getCurrentCluster()?.server ?? ""} ${this.getCurrentUser()?.name ?? ""}`;
    const pool = this.#pools.get(key);
    if (!pool) {
      this.#pools.set(key, fresh);
      return;
    }
    context.setDispatcher(pool);
    void fresh.close().catch(() => undefined);
  }

  /**
   * Typed clients whose failures name the request (KubeRequestError): client-node's own
   * errors say "fetch failed" or "HTTP-Code: 403" without the method or the URL.
   */
  override makeApiClient<T extends ApiType>(apiClientType: ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    return new apiClientType(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: this },
        httpApi: EXPLAINING_HTTP,
        promiseMiddleware: [
          {
            pre: async (c) => {
              c.setHeaderParam("User-Agent", `kernel-gossip/${VERSION}`);
              return c;
            },
            post: async (r) => r,
          },
        ],
      }),
    );
  }

  /** Connection pools kept (one per cluster and user used): for tests. */
  get pools(): number {
    return this.#pools.size;
  }
}

/**
 * A request to the API server that failed, named the way an operator needs it: method, URL,
 * then the HTTP status and the server's message, or the network cause ("connect
 * ECONNREFUSED 10.0.0.1:443") that undici hides behind "fetch failed". `code` (the status),
 * `body` and `headers` keep the shape of client-node's ApiException for the callers that
 * read them (statusOf, the writer's Retry-After).
 */
export class KubeRequestError extends Error {
  override name = "KubeRequestError";
  readonly method: string;
  readonly url: string;
  readonly code: number | undefined;
  readonly body: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    request: { method: string; url: string },
    outcome: { status?: number; body?: string; headers?: Record<string, string>; cause?: unknown },
  ) {
    const what =
      outcome.status !== undefined
        ? `${outcome.status} ${STATUS_CODES[outcome.status] ?? ""}`.trim() + serverMessage(outcome.body)
        : causeChain(outcome.cause);
    super(`${request.method} ${request.url}: ${what}`, { cause: outcome.cause });
    this.method = request.method;
    this.url = request.url;
    this.code = outcome.status;
    this.body = outcome.body;
    this.headers = outcome.headers ?? {};
  }
}

function serverMessage(body: string | undefined): string {
  if (!body) return "";
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    return typeof message === "string" && message !== "" ? `: ${message}` : "";
  } catch {
    return `: ${body.slice(0, 200)}`;
  }
}

const fetchLibrary = new IsomorphicFetchHttpLibrary();
const EXPLAINING_HTTP = wrapHttpLibrary({
  async send(request: RequestContext): Promise<ResponseContext> {
    const named = { method: String(request.getHttpMethod()), url: request.getUrl() };
    let response: ResponseContext;
    try {
      response = await fetchLibrary.send(request).toPromise();
    } catch (cause) {
      throw new KubeRequestError(named, { cause });
    }
    if (response.httpStatusCode < 400) return response;
    const body = await response.body.text().catch(() => "");
    throw new KubeRequestError(named, { status: response.httpStatusCode, body, headers: response.headers });
  },
});

/**
 * The kubeconfig file when given, else the in-cluster service account. Throws FatalError
 * (one line: what, which option, what to do) when neither can be loaded.
 */
export function loadKubeConfig(kubeconfigPath: string | undefined): KubeConfig {
  const kc = new KeepAliveKubeConfig();
  if (kubeconfigPath) {
    try {
      kc.loadFromFile(kubeconfigPath);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const why =
        code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : causeChain(err);
      throw new FatalError(
        `cannot load kubeconfig ${kubeconfigPath} (--kubeconfig / $KUBECONFIG): ${why}; point it at a readable kubeconfig, or leave it unset inside a cluster to use the pod's service account`,
        { cause: err },
      );
    }
    if (!kc.getCurrentCluster()) {
      throw new FatalError(
        `kubeconfig ${kubeconfigPath} (--kubeconfig / $KUBECONFIG) has no current context with a cluster; set current-context (kubectl config use-context)`,
      );
    }
    return kc;
  }
  if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
    throw new FatalError(
      "not running inside a Kubernetes pod ($KUBERNETES_SERVICE_HOST is unset) and no --kubeconfig ($KUBECONFIG) given: pass --kubeconfig to run outside a cluster",
    );
  }
  kc.loadFromCluster();
  return kc;
}

/**
 * The thin watch client (shared/kube-http.ts) on this KubeConfig's credentials, through its
 * public `applyToHTTPSOptions` (token files re-read per request): the supervised watches of
 * the aggregator use it, so no client timer cuts a quiet watch and no private field is set.
 */
export function kubeHttpOf(kc: KubeConfig): KubeHttp {
  return new KubeHttp({
    server: () => {
      const server = kc.getCurrentCluster()?.server;
      if (!server) throw new Error("the kubeconfig's current context names no cluster server");
      return server;
    },
    apply: (options) => kc.applyToHTTPSOptions(options),
  });
}

/** HTTP status of an error thrown by client-node's typed API (ApiException), if any. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === "number") return code;
  }
  return undefined;
}

/** Requests are aborted after this long (undici's own limit is 5 minutes). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Options that abort each request after `ms` (an AbortSignal on the request context), in the
 * observable-middleware form client-node's own `setHeaderOptions` uses; `Observable` is
 * client-node's public export, so no reach into its internals.
 */
export function timeoutOptions(ms: number): ConfigurationOptions<ObservableMiddleware> {
  return {
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(AbortSignal.timeout(ms));
          return new Observable(Promise.resolve(ctx));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: "append",
  };
}
