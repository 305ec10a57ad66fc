/**
 * Fault injection and request counters, driven by tests in-process or through
 * the /__control endpoint.
 */
import { type ApiError, conflict, internalError, serviceUnavailable, tooManyRequests } from "./status.ts";

export interface FailRule {
  verb?: string;
  resource?: string;
  name?: RegExp | string;
  status: 429 | 500 | 503 | 409;
  count: number;
  retryAfterSeconds?: number;
}

export interface WatchFilter {
  resource?: string;
  namespace?: string;
}

/** What the fault injector needs from an open watch. */
export interface OpenWatch {
  resource: string;
  namespace: string | undefined;
  /** graceful: end the chunked stream; otherwise reset the connection */
  drop(graceful: boolean): void;
  stall(): void;
  expire(message: string): void;
}

export interface RequestInfo {
  verb: string;
  resource: string;
  name: string;
}

export class Faults {
  private rules: FailRule[] = [];
  private latencyMs = 0;
  private outageUntil = 0;
  readonly watches = new Set<OpenWatch>();
  private readonly onExpire: () => { rv: number };
  private readonly clock: () => number;

  constructor(onExpire: () => { rv: number }, clock: () => number) {
    this.onExpire = onExpire;
    this.clock = clock;
  }

  /** Answer the next `count` requests matching the rule with `status`. */
  failNext(rule: FailRule): void {
    this.rules.push({ ...rule });
  }

  /** Close matching open watches; default is an abrupt connection reset. */
  dropWatches(filter: WatchFilter & { graceful?: boolean } = {}): number {
    return this.each(filter, (w) => w.drop(filter.graceful === true));
  }

  /** Keep matching watches open but send nothing more on them. */
  stallWatches(filter: WatchFilter = {}): number {
    return this.each(filter, (w) => w.stall());
  }

  /**
   * Every resourceVersion before now becomes too old: watches and continue
   * tokens from before get 410 Gone. Open watches receive an ERROR event with
   * a 410 Expired Status and are closed (unless closeWatches is false).
   */
  expireResourceVersions(opts: { closeWatches?: boolean } = {}): void {
    const { rv } = this.onExpire();
    if (opts.closeWatches === false) return;
    for (const w of [...this.watches]) {
      w.expire(`too old resource version: ${Math.max(rv - 1, 0)} (${rv})`);
    }
  }

  latency(ms: number): void {
    this.latencyMs = ms;
  }

  /** Every request is answered 503 for `ms` milliseconds. */
  outage(ms: number): void {
    this.outageUntil = this.clock() + ms;
  }

  clear(): void {
    this.rules = [];
    this.latencyMs = 0;
    this.outageUntil = 0;
  }

  get delayMs(): number {
    return this.latencyMs;
  }

  /** The error to answer with, if a fault applies to this request. */
  check(req: RequestInfo, named: { group: string; plural: string; kind: string }): ApiError | undefined {
    if (this.clock() < this.outageUntil) return serviceUnavailable();
    const i = this.rules.findIndex((r) => matches(r, req));
    const rule = this.rules[i];
    if (!rule) return undefined;
    rule.count -= 1;
    if (rule.count <= 0) this.rules.splice(i, 1);
    switch (rule.status) {
      case 429:
        return tooManyRequests(rule.retryAfterSeconds ?? 1);
      case 500:
        return internalError("injected fault");
      case 503:
        return serviceUnavailable();
      case 409:
        return conflict(
          named,
          req.name,
          "the object has been modified; please apply your changes to the latest version and try again",
        );
    }
    return undefined;
  }

  private each(filter: WatchFilter, fn: (w: OpenWatch) => void): number {
    let n = 0;
    for (const w of [...this.watches]) {
      if (filter.resource && filter.resource !== w.resource) continue;
      if (filter.namespace && filter.namespace !== w.namespace) continue;
      fn(w);
      n++;
    }
    return n;
  }
}

function matches(r: FailRule, req: RequestInfo): boolean {
  if (r.verb && r.verb !== req.verb) return false;
  if (r.resource && r.resource !== req.resource) return false;
  if (r.name !== undefined) {
    const re = typeof r.name === "string" ? new RegExp(r.name) : r.name;
    if (!re.test(req.name)) return false;
  }
  return true;
}

/** Requests served, by verb and resource (`pods`, `pods/status`, …). */
export class Counters {
  private readonly counts = new Map<string, number>();

  inc(verb: string, resource: string): void {
    const k = `${verb} ${resource}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  get(verb: string, resource: string): number {
    return this.counts.get(`${verb} ${resource}`) ?? 0;
  }

  reset(): void {
    this.counts.clear();
  }

  /** e.g. { "patch kernelwhispers": 3, "watch pods": 1 } */
  all(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
