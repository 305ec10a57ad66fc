/**
 * HTTP plumbing: authentication, fault injection, counters, routing to
 * discovery, OpenAPI, the /__control endpoint and the resource verbs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Authenticator } from "./auth.ts";
import { apiGroup, apiGroupList, apiResourceList, apiVersions, SERVER_VERSION } from "./discovery.ts";
import type { Counters, Faults } from "./faults.ts";
import { groupVersionDoc, rootDoc } from "./openapi.ts";
import type { Registry, ResourceType } from "./registry.ts";
import type { Resources, Target } from "./resources.ts";
import { ApiError, badRequest, internalError, requestNotFound, unauthorized } from "./status.ts";
import type { ServingCert } from "./tls.ts";
import type { KObj } from "./types.ts";

export interface ServerDeps {
  auth: Authenticator;
  registry: Registry;
  faults: Faults;
  counters: Counters;
  resources: Resources;
  hostPort: () => string;
  /** serve https with this certificate; plain http when undefined */
  tls: ServingCert | undefined;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json",
    "Cache-Control": "no-cache, private",
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, e: ApiError): void {
  const headers: Record<string, string> = {};
  if (e.details?.retryAfterSeconds !== undefined)
    headers["Retry-After"] = String(e.details.retryAfterSeconds);
  send(res, e.code, e.toStatus(), headers);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** metadata.name of a JSON body (a create names its object there, not in the path). */
function bodyName(body: string): string {
  try {
    const name = JSON.parse(body)?.metadata?.name;
    return typeof name === "string" ? name : "";
  } catch {
    return "";
  }
}

/** Parse a resource path into its target, or undefined when it is not one. */
export function resolve(reg: Registry, method: string, path: string, q: URLSearchParams): Target | undefined {
  const segs = path.split("/").filter(Boolean).map(decodeURIComponent);
  let group = "";
  let version: string | undefined;
  let rest: string[];
  if (segs[0] === "api") {
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === "apis") {
    group = segs[1] ?? "";
    version = segs[2];
    rest = segs.slice(3);
  } else return undefined;
  if (!version || rest.length === 0) return undefined;
  let watch = q.get("watch") === "true" || q.get("watch") === "1";
  if (rest[0] === "watch") {
    watch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  let rt: ResourceType | undefined;
  const nsType =
    rest[0] === "namespaces" && rest.length >= 3 ? reg.find(group, version, rest[2] ?? "") : undefined;
  if (nsType?.namespaced) {
    namespace = rest[1];
    rt = nsType;
    rest = rest.slice(2);
  } else rt = reg.find(group, version, rest[0] ?? "");
  if (!rt) return undefined;
  const name = rest[1];
  const subresource = rest[2] ?? "";
  let verb: string;
  switch (method) {
    case "GET":
      verb = name ? "get" : watch ? "watch" : "list";
      break;
    case "POST":
      verb = "create";
      break;
    case "PUT":
      verb = "update";
      break;
    case "PATCH":
      verb = "patch";
      break;
    case "DELETE":
      verb = name ? "delete" : "deletecollection";
      break;
    default:
      verb = method.toLowerCase();
  }
  return { rt, namespace, name, subresource, verb };
}

export function createApiServer(d: ServerDeps): Server {
  const discovery = (path: string): KObj | undefined => {
    if (path === "/version") return SERVER_VERSION;
    if (path === "/api") return apiVersions(d.hostPort());
    if (path === "/apis") return apiGroupList(d.registry);
    const core = /^\/api\/([^/]+)$/.exec(path);
    if (core) return apiResourceList(d.registry, "", core[1] ?? "");
    const grp = /^\/apis\/([^/]+)$/.exec(path);
    if (grp) return apiGroup(d.registry, grp[1] ?? "");
    const gv = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (gv) return apiResourceList(d.registry, gv[1] ?? "", gv[2] ?? "");
    if (path === "/openapi/v3") return rootDoc(d.registry);
    const oa = /^\/openapi\/v3\/(?:api\/([^/]+)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (oa)
      return oa[1]
        ? groupVersionDoc(d.registry, "", oa[1])
        : groupVersionDoc(d.registry, oa[2] ?? "", oa[3] ?? "");
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const method = req.method ?? "GET";
    const raw = await readBody(req);
    const body = raw.toString("utf8");
    // like kube-apiserver's system:public-info-viewer: health and version need no token
    const open = ["/healthz", "/readyz", "/livez", "/version"].includes(path) && !req.headers.authorization;
    if (!open && !d.auth.authenticate(req.headers.authorization)) throw unauthorized();
    if (path.startsWith("/__control/")) {
      send(res, 200, control(d, path.slice("/__control/".length), method, body));
      return;
    }
    const target = resolve(d.registry, method, path, url.searchParams);
    const resource = target
      ? target.subresource
        ? `${target.rt.plural}/${target.subresource}`
        : target.rt.plural
      : path;
    const verb = target?.verb ?? method.toLowerCase();
    d.counters.inc(verb, resource);
    if (d.faults.delayMs > 0) await new Promise((r) => setTimeout(r, d.faults.delayMs));
    const fault = d.faults.check(
      { verb, resource: target?.rt.plural ?? path, name: target?.name ?? bodyName(body) },
      target?.rt ?? { group: "", plural: path, kind: "" },
    );
    if (fault) throw fault;
    if (path === "/healthz" || path === "/readyz" || path === "/livez") {
      send(res, 200, "ok");
      return;
    }
    if (!target) {
      const doc = method === "GET" ? discovery(path) : undefined;
      if (!doc) throw requestNotFound();
      send(res, 200, doc);
      return;
    }
    const reply = d.resources.handle(target, req, res, url.searchParams, body, raw);
    if (!reply) return;
    const headers: Record<string, string> = {};
    if (reply.warnings?.length)
      headers.Warning = reply.warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(", ");
    send(res, reply.status, reply.body, headers);
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof ApiError) sendError(res, e);
      else sendError(res, internalError(e instanceof Error ? e.message : String(e)));
    });
  };
  return d.tls ? createTlsServer({ key: d.tls.key, cert: d.tls.cert }, listener) : createServer(listener);
}

/** The /__control endpoint: the in-process fault API for child-process use. */
function control(d: ServerDeps, action: string, method: string, body: string): unknown {
  const args = body.trim() ? JSON.parse(body) : {};
  if (method === "GET" && action === "counters") return d.counters.all();
  if (method !== "POST") throw badRequest("control actions are POSTed");
  switch (action) {
    case "failNext":
      d.faults.failNext({ ...args, ...(args.name !== undefined ? { name: new RegExp(args.name) } : {}) });
      return { ok: true };
    case "dropWatches":
      return { dropped: d.faults.dropWatches(args) };
    case "stallWatches":
      return { stalled: d.faults.stallWatches(args) };
    case "expireResourceVersions":
      d.faults.expireResourceVersions(args);
      return { ok: true };
    case "latency":
      d.faults.latency(Number(args.ms ?? 0));
      return { ok: true };
    case "outage":
      d.faults.outage(Number(args.ms ?? 0));
      return { ok: true };
    case "clear":
      d.faults.clear();
      return { ok: true };
    case "counters/reset":
      d.counters.reset();
      return { ok: true };
  }
  throw requestNotFound();
}
