/**
 * Status error bodies with the real kube-apiserver's codes, reasons and wording
 * (k8s.io/apimachinery/pkg/api/errors).
 */
import type { KObj } from "./types.ts";

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
  toStatus(): KObj {
    const s: KObj = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
    };
    if (this.details) s.details = this.details;
    s.code = this.code;
    return s;
  }
}

/** What a resource error names: plural resource, its group, the Kind. */
export interface Named {
  group: string;
  plural: string;
  kind: string;
}

function qualified(rt: Named): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

function details(rt: Named, name: string): StatusDetails {
  const d: StatusDetails = { name };
  if (rt.group) d.group = rt.group;
  d.kind = rt.plural;
  return d;
}

export function notFound(rt: Named, name: string): ApiError {
  return new ApiError(404, "NotFound", `${qualified(rt)} "${name}" not found`, details(rt, name));
}

export function alreadyExists(rt: Named, name: string): ApiError {
  return new ApiError(409, "AlreadyExists", `${qualified(rt)} "${name}" already exists`, details(rt, name));
}

export function conflict(rt: Named, name: string, why: string): ApiError {
  return new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(rt)} "${name}": ${why}`,
    details(rt, name),
  );
}

export const STALE =
  "the object has been modified; please apply your changes to the latest version and try again";

/** One field error, formatted like field.Error.ErrorBody(). */
export interface FieldError {
  type:
    | "Required"
    | "Invalid"
    | "NotSupported"
    | "Duplicate"
    | "TooLong"
    | "TooMany"
    | "Forbidden"
    | "TypeInvalid";
  field: string;
  body: string;
}

const CAUSE: Record<FieldError["type"], string> = {
  Required: "FieldValueRequired",
  Invalid: "FieldValueInvalid",
  NotSupported: "FieldValueNotSupported",
  Duplicate: "FieldValueDuplicate",
  TooLong: "FieldValueTooLong",
  TooMany: "FieldValueTooMany",
  Forbidden: "FieldValueForbidden",
  TypeInvalid: "FieldValueTypeInvalid",
};

export function invalid(rt: Named, name: string, errs: FieldError[]): ApiError {
  const texts = errs.map((e) => `${e.field}: ${e.body}`);
  const agg = texts.length === 1 ? texts[0] : `[${texts.join(", ")}]`;
  const gk = rt.group ? `${rt.kind}.${rt.group}` : rt.kind;
  const d: StatusDetails = { name };
  if (rt.group) d.group = rt.group;
  d.kind = rt.kind;
  d.causes = errs.map((e) => ({ reason: CAUSE[e.type], message: e.body, field: e.field }));
  return new ApiError(422, "Invalid", `${gk} "${name}" is invalid: ${agg}`, d);
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

export function methodNotAllowed(): ApiError {
  return new ApiError(
    405,
    "MethodNotAllowed",
    "the server does not allow this method on the requested resource",
  );
}

export function unsupportedMediaType(accepted: string[]): ApiError {
  return new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
  );
}

export function unauthorized(): ApiError {
  return new ApiError(401, "Unauthorized", "Unauthorized");
}

export function gone(message: string): ApiError {
  return new ApiError(410, "Expired", message);
}

export function forbidden(message: string): ApiError {
  return new ApiError(403, "Forbidden", message);
}

export function tooManyRequests(retryAfterSeconds: number): ApiError {
  return new ApiError(429, "TooManyRequests", "Too many requests, please try again later.", {
    retryAfterSeconds,
  });
}

export function internalError(why: string): ApiError {
  return new ApiError(500, "InternalError", `Internal error occurred: ${why}`, {
    causes: [{ message: why }],
  });
}

export function serviceUnavailable(): ApiError {
  return new ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request");
}

export function requestNotFound(): ApiError {
  return new ApiError(404, "NotFound", "the server could not find the requested resource");
}
