// Who may stream events, and for which node. An Authenticator looks at the bearer token of
// the upgrade request and answers before the WebSocket exists (auth happens during the HTTP
// upgrade; a refused agent gets an HTTP status and a JSON body, never a socket).
import { createHash, timingSafeEqual } from "node:crypto";
import type { ErrorCode } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";

export type AuthResult =
  | {
      ok: true;
      /** Node the connection is bound to; undefined trusts the node named in Hello (static mode). */
      node?: string;
      /** Who connected, for logs (service-account user name, or "static-token#N"). */
      identity: string;
    }
  | { ok: false; code: ErrorCode; detail: string };

export interface Authenticator {
  authenticate(token: string | undefined): Promise<AuthResult>;
}

/** Reads `Authorization: Bearer <token>`; undefined when absent or empty. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1];
}

const digest = (token: string): Buffer => createHash("sha256").update(token).digest();

/**
 * Static tokens for tests and the demo: each entry is `token` (any node; Hello's node is
 * trusted) or `token=node` (bound to that node). Warns at creation: not for production.
 */
export function createStaticAuthenticator(entries: string[], log: Logger): Authenticator {
  const accepted = entries.map((entry, index) => {
    const eq = entry.indexOf("=");
    const token = eq === -1 ? entry : entry.slice(0, eq);
    const node = eq === -1 ? undefined : entry.slice(eq + 1);
    return { hash: digest(token), node: node === "" ? undefined : node, identity: `static-token#${index}` };
  });
  log.warn(
    { tokens: accepted.length, boundToNode: accepted.filter((a) => a.node).length },
    "STATIC TOKEN AUTH IS ON: agents are not verified with the TokenReview API and unbound tokens may claim any node. This mode is for tests and the demo, NOT for production; use --auth-mode tokenreview",
  );
  return {
    async authenticate(token) {
      if (!token) return { ok: false, code: "KG_AUTH_MISSING", detail: "no Authorization: Bearer header" };
      const hash = digest(token);
      const match = accepted.find((a) => timingSafeEqual(a.hash, hash));
      if (!match)
        return { ok: false, code: "KG_AUTH_INVALID", detail: "token is not one of --static-tokens" };
      return match.node === undefined
        ? { ok: true, identity: match.identity }
        : { ok: true, identity: match.identity, node: match.node };
    },
  };
}
