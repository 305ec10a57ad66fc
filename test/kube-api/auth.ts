/**
 * Bearer-token authentication and the TokenReview API. Tokens are configured
 * at start-up and map to identities; a service-account token carries its pod
 * binding in `extra`, the way the real token authenticator reports it.
 */
import { randomUUID } from "node:crypto";
import type { KObj } from "./types.ts";

export interface TokenSpec {
  token: string;
  username: string;
  uid?: string;
  groups?: string[];
  /** audiences the token was issued for; unset = the API server's own audiences */
  audiences?: string[];
  extra?: Record<string, string[]>;
  /** like a projected token bound to a pod: invalid once that pod (same uid) is gone */
  boundPod?: { namespace: string; name: string; uid: string };
}

/** The audiences kube-apiserver uses when a TokenReview names none. */
export const API_AUDIENCES = ["https://kubernetes.default.svc.cluster.local"];

export interface ServiceAccountTokenOptions {
  token?: string;
  namespace: string;
  name: string;
  podName: string;
  podUid: string;
  nodeName: string;
  audiences?: string[];
  /** verify the pod binding on TokenReview like the real token authenticator (default false) */
  bindToPod?: boolean;
}

/** A projected, pod-bound service-account token's identity. */
export function serviceAccountToken(o: ServiceAccountTokenOptions): TokenSpec {
  return {
    token: o.token ?? `sa-${o.namespace}-${o.name}-${randomUUID()}`,
    username: `system:serviceaccount:${o.namespace}:${o.name}`,
    uid: randomUUID(),
    groups: ["system:serviceaccounts", `system:serviceaccounts:${o.namespace}`, "system:authenticated"],
    audiences: o.audiences ?? API_AUDIENCES,
    extra: {
      "authentication.kubernetes.io/credential-id": [`JTI=${randomUUID()}`],
      "authentication.kubernetes.io/node-name": [o.nodeName],
      "authentication.kubernetes.io/pod-name": [o.podName],
      "authentication.kubernetes.io/pod-uid": [o.podUid],
    },
    ...(o.bindToPod ? { boundPod: { namespace: o.namespace, name: o.podName, uid: o.podUid } } : {}),
  };
}

/** Finds a pod by namespace and name (the store), for bound tokens. */
export type PodLookup = (namespace: string, name: string) => KObj | undefined;

export class Authenticator {
  private readonly tokens = new Map<string, TokenSpec>();
  readonly adminToken: string;

  private readonly podLookup: PodLookup;

  constructor(tokens: TokenSpec[], adminToken: string, podLookup: PodLookup = () => undefined) {
    this.adminToken = adminToken;
    this.podLookup = podLookup;
    this.tokens.set(adminToken, {
      token: adminToken,
      username: "kube-api-admin",
      groups: ["system:masters", "system:authenticated"],
    });
    for (const t of tokens) this.add(t);
  }

  add(t: TokenSpec): void {
    this.tokens.set(t.token, t);
  }

  /** The identity behind an Authorization header, or undefined (→ 401). */
  authenticate(header: string | undefined): TokenSpec | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
    return m?.[1] ? this.tokens.get(m[1]) : undefined;
  }

  /** Fill in a TokenReview's status like the real authenticator chain. */
  review(body: KObj): KObj {
    const spec = body.spec ?? {};
    const token = typeof spec.token === "string" ? spec.token : "";
    const wanted: string[] =
      Array.isArray(spec.audiences) && spec.audiences.length ? spec.audiences : API_AUDIENCES;
    const t = this.tokens.get(token);
    const out: KObj = {
      kind: "TokenReview",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { creationTimestamp: null },
      spec,
    };
    if (!t) {
      out.status = { user: {}, error: "[invalid bearer token, token lookup failed]" };
      return out;
    }
    if (t.boundPod) {
      const pod = this.podLookup(t.boundPod.namespace, t.boundPod.name);
      const why = !pod
        ? "service account token has been invalidated"
        : pod.metadata.uid !== t.boundPod.uid
          ? `pod UID (${pod.metadata.uid}) does not match service account pod ref UID (${t.boundPod.uid})`
          : undefined;
      if (why) {
        out.status = { user: {}, error: `[invalid bearer token, ${why}]` };
        return out;
      }
    }
    const has = t.audiences ?? API_AUDIENCES;
    const common = wanted.filter((a) => has.includes(a));
    if (common.length === 0) {
      out.status = {
        user: {},
        error: `[invalid bearer token, token audiences ${fmt(has)} is invalid for the target audiences ${fmt(wanted)}]`,
      };
      return out;
    }
    const user: KObj = { username: t.username };
    if (t.uid) user.uid = t.uid;
    user.groups = t.groups ?? ["system:authenticated"];
    if (t.extra) user.extra = t.extra;
    out.status = { authenticated: true, user, audiences: common };
    return out;
  }
}

function fmt(list: string[]): string {
  return `[${list.map((a) => JSON.stringify(a)).join(" ")}]`;
}
