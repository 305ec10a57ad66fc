/**
 * Shared shapes of the local API server. Kubernetes objects are JSON documents
 * whose shape depends on the resource, so they are handled as `Json`
 * (one deliberate `any`): each module narrows what it reads.
 */
// biome-ignore lint/suspicious/noExplicitAny: untyped JSON documents, narrowed where read
export type Json = any;
export type KObj = Record<string, Json>;

export function isObj(v: unknown): v is KObj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 3339 with second precision, like metav1.Time. */
export function nowTime(clock: () => number = Date.now): string {
  return `${new Date(clock()).toISOString().slice(0, 19)}Z`;
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}
