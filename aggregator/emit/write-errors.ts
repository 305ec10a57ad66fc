// How the CR writer reads a failed request: the outcome label, the API server's message for
// the log, and the Retry-After it asked for.

/** `outcome` label of kernel_gossip_aggregator_cr_writes_total for an HTTP status. */
export function outcomeOf(status: number | undefined): string {
  if (status === 409) return "conflict";
  if (status === 429) return "throttled";
  if (status === 404) return "not_found";
  if (status === 400 || status === 422) return "invalid";
  if (status === 403) return "forbidden";
  return "error";
}

export function messageOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === "string") {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return body.slice(0, 500);
    }
  }
  if (body && typeof body === "object" && "message" in body)
    return String((body as { message: unknown }).message);
  return err instanceof Error ? (err.message.split("\n")[0] ?? err.message) : String(err);
}

export function retryAfterMs(err: unknown): number {
  const headers = (err as { headers?: Record<string, string> }).headers;
  const value = headers?.["retry-after"];
  const seconds = value === undefined ? Number.NaN : Number(value);
  return Number.isFinite(seconds) ? Math.min(seconds, 30) * 1000 : 0;
}
