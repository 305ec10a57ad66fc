// Production authentication: the agent's projected service-account token (audience
// kernel-gossip) is validated with the TokenReview API, must belong to the agent's service
// account, and binds the connection to the node its pod runs on — from the token's
// `authentication.kubernetes.io/node-name` extra when present, else by reading the token's
// pod (`authentication.kubernetes.io/pod-name`, namespace from the user name) → spec.nodeName.
// Successful reviews are cached for cacheTtlMs, refused ones for negativeCacheTtlMs (a client
// retrying a bad token costs one review, not one per attempt), keyed by the token's SHA-256
// (never the token).
import { createHash } from "node:crypto";
import { AuthenticationV1Api, CoreV1Api, type KubeConfig, type V1TokenReview } from "@kubernetes/client-node";
import { LRUCache } from "lru-cache";
import type { Clock } from "../../shared/clock.ts";
import { statusOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { Authenticator, AuthResult } from "./auth.ts";
import type { StreamMetrics } from "./metrics.ts";

export const NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";
export const POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";
export const POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid";

export interface TokenReviewAuthOptions {
  kubeConfig: KubeConfig;
  /** Audience the token must carry (--token-audience). */
  audience: string;
  /** The only user allowed, e.g. system:serviceaccount:kernel-gossip:kernel-gossip-agent. */
  serviceAccount: string;
  cacheTtlMs: number;
  /** How long a refused token is answered from the cache (0: never); unavailable reviews are not cached. */
  negativeCacheTtlMs?: number;
  clock: Clock;
  log: Logger;
  metrics: Pick<StreamMetrics, "tokenReviews">;
  /** Distinct tokens cached at most (one per agent pod). */
  cacheSize?: number;
}

type Accepted = Extract<AuthResult, { ok: true }>;

export function createTokenReviewAuthenticator(options: TokenReviewAuthOptions): Authenticator {
  const { audience, serviceAccount, clock, metrics } = options;
  const log = options.log.child({ component: "token-review" });
  const authApi = options.kubeConfig.makeApiClient(AuthenticationV1Api);
  const coreApi = options.kubeConfig.makeApiClient(CoreV1Api);
  const cache =
    options.cacheTtlMs > 0
      ? new LRUCache<string, Accepted>({
          max: options.cacheSize ?? 20_000,
          ttl: options.cacheTtlMs,
          perf: { now: () => clock.monotonic() },
        })
      : undefined;

  const negative =
    (options.negativeCacheTtlMs ?? 0) > 0
      ? new LRUCache<string, AuthResult>({
          max: 10_000,
          ttl: options.negativeCacheTtlMs,
          perf: { now: () => clock.monotonic() },
        })
      : undefined;

  const fail = (code: Extract<AuthResult, { ok: false }>["code"], detail: string): AuthResult => {
    metrics.tokenReviews.inc({ outcome: code === "KG_AUTH_UNAVAILABLE" ? "error" : "rejected" });
    return { ok: false, code, detail };
  };

  const nodeOfPod = async (
    namespace: string,
    pod: string,
    uid: string | undefined,
  ): Promise<{ node: string } | AuthResult> => {
    try {
      const found = await coreApi.readNamespacedPod({ name: pod, namespace });
      if (uid && found.metadata?.uid !== uid) {
        return fail(
          "KG_AUTH_INVALID",
          `token was issued for pod ${namespace}/${pod} uid ${uid}, which no longer exists`,
        );
      }
      const node = found.spec?.nodeName;
      if (!node) return fail("KG_AUTH_NO_NODE", `pod ${namespace}/${pod} is not scheduled to a node`);
      return { node };
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return fail("KG_AUTH_INVALID", `token's pod ${namespace}/${pod} does not exist`);
      return fail(
        "KG_AUTH_UNAVAILABLE",
        `reading pod ${namespace}/${pod} to find its node failed (${status ?? (err as Error).message})`,
      );
    }
  };

  const review = async (token: string): Promise<AuthResult> => {
    let result: V1TokenReview;
    try {
      result = await authApi.createTokenReview({
        body: {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenReview",
          spec: { token, audiences: [audience] },
        },
      });
    } catch (err) {
      const status = statusOf(err);
      log.error(
        { err, status },
        "TokenReview request failed; agents cannot connect until it works (the aggregator needs create on tokenreviews)",
      );
      return fail("KG_AUTH_UNAVAILABLE", `TokenReview request failed (${status ?? (err as Error).message})`);
    }
    const status = result.status;
    if (!status?.authenticated) {
      return fail(
        "KG_AUTH_INVALID",
        status?.error ? `TokenReview: ${status.error}` : "TokenReview: not authenticated",
      );
    }
    if (!(status.audiences ?? []).includes(audience)) {
      return fail(
        "KG_AUTH_INVALID",
        `token audiences ${JSON.stringify(status.audiences ?? [])} do not include "${audience}"`,
      );
    }
    const username = status.user?.username ?? "";
    if (username !== serviceAccount) {
      return fail(
        "KG_AUTH_FORBIDDEN",
        `token belongs to "${username}", only "${serviceAccount}" may stream events`,
      );
    }
    const extra = status.user?.extra ?? {};
    const node = extra[NODE_NAME_EXTRA]?.[0];
    if (node) return { ok: true, node, identity: username };
    const pod = extra[POD_NAME_EXTRA]?.[0];
    const namespace = username.split(":")[2];
    if (!pod || !namespace) {
      return fail("KG_AUTH_NO_NODE", "token is not bound to a pod (use a projected service-account token)");
    }
    const located = await nodeOfPod(namespace, pod, extra[POD_UID_EXTRA]?.[0]);
    if ("ok" in located) return located;
    return { ok: true, node: located.node, identity: username };
  };

  // One review per token at a time: an agent retrying while its review is pending (or a
  // reconnect storm after a restart) shares the request in flight.
  const inFlight = new Map<string, Promise<AuthResult>>();
  return {
    async authenticate(token) {
      if (!token) return fail("KG_AUTH_MISSING", "no Authorization: Bearer header");
      const key = createHash("sha256").update(token).digest("hex");
      const cached = cache?.get(key);
      if (cached) {
        metrics.tokenReviews.inc({ outcome: "cached" });
        return cached;
      }
      const refused = negative?.get(key);
      if (refused) {
        metrics.tokenReviews.inc({ outcome: "cached_rejected" });
        return refused;
      }
      const pending = inFlight.get(key);
      if (pending) return pending;
      const started = review(token)
        .then((result) => {
          if (result.ok) {
            metrics.tokenReviews.inc({ outcome: "authenticated" });
            cache?.set(key, result);
          } else if (result.code !== "KG_AUTH_UNAVAILABLE") negative?.set(key, result);
          return result;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, started);
      return started;
    },
  };
}
