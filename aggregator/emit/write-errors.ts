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

/** The Kubernetes Status a failed request carried (reason, details.kind), when it had one. */
function statusBodyOf(err: unknown): { reason?: string; message?: string; kind?: string } {
  let body = (err as { body?: unknown }).body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      return {};
    }
  }
  if (!body || typeof body !== "object") return {};
  const b = body as { reason?: unknown; message?: unknown; details?: { kind?: unknown } };
  return {
    ...(typeof b.reason === "string" ? { reason: b.reason } : {}),
    ...(typeof b.message === "string" ? { message: b.message } : {}),
    ...(typeof b.details?.kind === "string" ? { kind: b.details.kind } : {}),
  };
}

/** A body the writer could not render (a value no CR can hold): retrying cannot help. */
export class RenderError extends Error {
  override name = "RenderError";
}

/**
 * What a failed write means. `permanent`: the same request can never succeed (the object is
 * dropped, everything waiting on it answered, logged once); otherwise the writer retries.
 * `reason` is the `reason` label of kernel_gossip_aggregator_events_dropped_total for a
 * permanent one, and what the log says.
 */
export type WriteFailure =
  | { permanent: true; reason: "namespace_not_found" | "namespace_terminating" | "invalid" | "unrenderable" }
  | { permanent: false; reason: "conflict" | "not_served" | "gone" | "forbidden" | "transient" };

export function classifyWriteFailure(err: unknown, phase: "read" | "spec" | "status"): WriteFailure {
  if (err instanceof RenderError) return { permanent: true, reason: "unrenderable" };
  const status = (err as { code?: unknown }).code;
  if (status === 400 || status === 422) return { permanent: true, reason: "invalid" };
  if (status === 409) return { permanent: false, reason: "conflict" };
  const body = statusBodyOf(err);
  if (status === 404) {
    // kube-apiserver answers a write into a namespace that does not exist with
    // `namespaces "x" not found` (details.kind "namespaces"); an unserved resource (CRDs not
    // installed) with "the server could not find the requested resource".
    if (body.kind === "namespaces" || /^namespaces "[^"]*" not found$/.test(body.message ?? "")) {
      return { permanent: true, reason: "namespace_not_found" };
    }
    return { permanent: false, reason: phase === "status" ? "gone" : "not_served" };
  }
  if (status === 403) {
    // The NamespaceLifecycle admission plugin: a namespace being deleted takes no new objects.
    if (/because it is being terminated/.test(body.message ?? "")) {
      return { permanent: true, reason: "namespace_terminating" };
    }
    return { permanent: false, reason: "forbidden" };
  }
  return { permanent: false, reason: "transient" };
}
