// Kubernetes client configuration, shared by both roles: a kubeconfig file when given
// (development, tests, the demo), else the in-cluster service-account config.
import {
  type ConfigurationOptions,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  type RequestContext,
} from "@kubernetes/client-node";
import { KubeHttp } from "./kube-http.ts";

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

  /** Connection pools kept (one per cluster and user used): for tests. */
  get pools(): number {
    return this.#pools.size;
  }
}

export function loadKubeConfig(kubeconfigPath: string | undefined): KubeConfig {
  const kc = new KeepAliveKubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromCluster();
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
