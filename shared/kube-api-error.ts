// How the thin client (shared/kube-http.ts) reports a failed request: which request, the
// HTTP status and the API server's own Status message, or the network cause.
import type { IncomingMessage } from "node:http";

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

/** The API server's Status message when there is one: "pods is forbidden: User …". */
export function statusError(url: string, res: IncomingMessage, body: string): KubeApiError {
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

export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
  return `${err.message}${cause}`;
}
