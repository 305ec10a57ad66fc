// A list+watch that never gives up (see docs/adr/0003-pod-watch.md). Every watch of the
// product goes through it: the agent's pods and namespaces, the aggregator's agent ConfigMap.
//
// Cycle: list (resourceVersion "0": served from the API server's watch cache; "" — a
// consistent read — after a 410, so we never step back behind what we already saw), hand
// the whole list to `onList` (the owner diffs it against what it had), then watch from the
// list's resourceVersion with bookmarks. Restarts:
//  - error  (request failed, watch ERROR other than 410): relist after jittered backoff;
//  - gone   (410 Expired): relist at once, consistently;
//  - stale  (no event or bookmark for `staleAfterMs`, e.g. a dead TCP connection): relist
//           after backoff;
//  - closed (the server ended the watch normally, e.g. its timeout): resume the watch from
//           the last resourceVersion, no relist; backoff only if it ends without any event.
// The backoff resets when an event or bookmark arrives. Callbacks from an abandoned attempt
// are ignored (generation counter). Owner callbacks that throw are logged, never fatal.
import { Backoff } from "./backoff.ts";
import type { Clock, Timer } from "./clock.ts";
import { causeChain } from "./errors.ts";
import type { Watcher } from "./kube-http.ts";
import type { Logger } from "./log.ts";

export type RestartCause = "error" | "stale" | "gone" | "closed";

/** The fields of an object the supervisor reads. */
export interface KubeObject {
  metadata?: { resourceVersion?: string; uid?: string; name?: string };
}

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export interface SupervisedWatchOptions<T extends KubeObject> {
  /** Opens watch streams (shared/kube-http.ts: KubeHttp; the aggregator adapts its KubeConfig). */
  watcher: Watcher;
  clock: Clock;
  log: Logger;
  /** What is watched, for logs: "pods on node-a". */
  what: string;
  /** List call (typed client); resourceVersion "0" or "". */
  list: (resourceVersion: string) => Promise<ListResult<T>>;
  /** Watch path and selectors, e.g. "/api/v1/pods", { fieldSelector }. */
  watchPath: string;
  watchQuery: Record<string, string>;
  staleAfterMs: number;
  onList: (items: T[]) => void;
  onUpsert: (item: T) => void;
  onDelete: (item: T) => void;
  /** Every restart, with its cause (metrics). */
  onRestart?: (cause: RestartCause) => void;
  /** Every event or bookmark (last-event age). */
  onActivity?: () => void;
  /** Each time a watch request is established (after a list or a resume). */
  onWatching?: () => void;
  backoff?: Backoff;
  /** Random source for the server-side watch timeout (5–10 min, like client-go). */
  random?: () => number;
}

export class SupervisedWatch<T extends KubeObject> {
  #o: SupervisedWatchOptions<T>;
  #backoff: Backoff;
  #random: () => number;
  #generation = 0;
  #resourceVersion = "";
  #consistentNext = false;
  #running = false;
  #listed = false;
  #abort: AbortController | undefined;
  #retryTimer: Timer | undefined;
  #staleTimer: Timer | undefined;
  #eventsThisWatch = 0;
  /** Restarts without delay since the last event: one is allowed, then backoff applies. */
  #quickRestarts = 0;

  constructor(options: SupervisedWatchOptions<T>) {
    this.#o = options;
    // A quiet watch is never cut by a client timer: the stale timer (staleAfterMs) governs.
    this.#backoff = options.backoff ?? new Backoff();
    this.#random = options.random ?? Math.random;
  }

  /** True once a first list has been delivered. */
  get listed(): boolean {
    return this.#listed;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#relist();
  }

  stop(): void {
    this.#running = false;
    this.#generation++;
    this.#abortWatch();
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    if (this.#staleTimer !== undefined) this.#o.clock.clearTimeout(this.#staleTimer);
    this.#retryTimer = undefined;
    this.#staleTimer = undefined;
  }

  async #relist(): Promise<void> {
    const gen = ++this.#generation;
    this.#armStale(gen);
    const resourceVersion = this.#consistentNext ? "" : "0";
    let result: ListResult<T>;
    try {
      result = await this.#o.list(resourceVersion);
    } catch (err) {
      if (gen !== this.#generation) return;
      this.#restart(gen, isGone(err) ? "gone" : "error", err);
      return;
    }
    if (gen !== this.#generation) return;
    this.#consistentNext = false;
    this.#resourceVersion = result.metadata?.resourceVersion ?? "";
    this.#listed = true;
    // A list alone does not reset the backoff: a watch that fails right after every list
    // must not turn into a relist loop.
    this.#armStale(gen);
    this.#o.onActivity?.();
    this.#guard("list", () => this.#o.onList(result.items ?? []));
    await this.#startWatch(gen);
  }

  async #startWatch(gen: number): Promise<void> {
    if (gen !== this.#generation || !this.#running) return;
    this.#eventsThisWatch = 0;
    const query: Record<string, string> = {
      ...this.#o.watchQuery,
      allowWatchBookmarks: "true",
      resourceVersion: this.#resourceVersion,
      timeoutSeconds: String(Math.round(300 + this.#random() * 300)),
    };
    let controller: AbortController;
    try {
      controller = await this.#o.watcher.watch(
        this.#o.watchPath,
        query,
        (type: string, object: unknown) => {
          if (gen !== this.#generation) return;
          const obj = object as T & { code?: number; message?: string };
          if (type === "ERROR") {
            // The server ends the stream after an ERROR; do not wait for it.
            this.#restart(gen, obj?.code === 410 ? "gone" : "error", obj);
            return;
          }
          this.#eventsThisWatch++;
          const rv = obj?.metadata?.resourceVersion;
          if (rv) this.#resourceVersion = rv;
          this.#activity(gen);
          if (type === "ADDED" || type === "MODIFIED") this.#guard("upsert", () => this.#o.onUpsert(obj));
          else if (type === "DELETED") this.#guard("delete", () => this.#o.onDelete(obj));
        },
        (err: unknown) => {
          if (gen !== this.#generation || !this.#running) return;
          if (!err) this.#restart(gen, "closed", undefined);
          else
            this.#restart(
              gen,
              (err as Error)?.name === "TimeoutError" ? "stale" : isGone(err) ? "gone" : "error",
              err,
            );
        },
      );
    } catch (err) {
      // Before the request was sent: no cluster in the kubeconfig, credentials unreadable.
      this.#restart(gen, "error", err);
      return;
    }
    if (gen !== this.#generation) controller.abort();
    else {
      this.#abort = controller;
      this.#guard("watching", () => this.#o.onWatching?.());
    }
  }

  #restart(gen: number, cause: RestartCause, detail: unknown): void {
    if (gen !== this.#generation || !this.#running) return;
    const next = ++this.#generation;
    this.#abortWatch();
    this.#o.onRestart?.(cause);
    if (cause === "gone") this.#consistentNext = true;
    const resume = cause === "closed" && this.#resourceVersion !== "";
    // A 410, or a normal end of a watch that delivered events, restarts at once — but only
    // once in a row: a server that keeps doing it gets the backoff like any error.
    const quick = (cause === "gone" || (resume && this.#eventsThisWatch > 0)) && this.#quickRestarts === 0;
    if (quick) this.#quickRestarts++;
    const delay = quick ? 0 : this.#backoff.next();
    const log = cause === "closed" ? this.#o.log.debug.bind(this.#o.log) : this.#o.log.warn.bind(this.#o.log);
    const hint = hintFor(detail, this.#o.what);
    log(
      { cause, err: describe(detail), watch: this.#o.watchPath, retryInMs: delay, resume },
      `watch of ${this.#o.what} restarting (${cause}); ${resume ? "resuming from the last resourceVersion" : "relisting and diffing, so no transition is lost"}${hint ? `; ${hint}` : ""}`,
    );
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = this.#o.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (next !== this.#generation || !this.#running) return;
      if (resume) {
        this.#armStale(next);
        void this.#startWatch(next);
      } else void this.#relist();
    }, delay);
  }

  #activity(gen: number): void {
    this.#backoff.reset();
    this.#quickRestarts = 0;
    this.#armStale(gen);
    this.#o.onActivity?.();
  }

  #armStale(gen: number): void {
    if (this.#staleTimer !== undefined) this.#o.clock.clearTimeout(this.#staleTimer);
    this.#staleTimer = this.#o.clock.setTimeout(() => {
      this.#staleTimer = undefined;
      this.#restart(gen, "stale", `nothing for ${this.#o.staleAfterMs} ms`);
    }, this.#o.staleAfterMs);
  }

  #abortWatch(): void {
    const controller = this.#abort;
    this.#abort = undefined;
    controller?.abort();
  }

  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#o.log.error({ err, what }, `handling a ${what} of ${this.#o.what} failed; the watch continues`);
    }
  }
}

/** What the operator can do about a request the API server refused. */
function hintFor(detail: unknown, what: string): string | undefined {
  const e = detail as { code?: unknown; statusCode?: unknown } | undefined;
  const status =
    typeof e?.code === "number" ? e.code : typeof e?.statusCode === "number" ? e.statusCode : undefined;
  if (status === 401)
    return "the API server does not accept this pod's credentials (expired or wrong service-account token)";
  // Agent (pods, namespaces) and aggregator (agent ConfigMap, KernelWhispers) watch through here.
  if (status === 403)
    return `RBAC: this pod's service account needs list and watch on ${what.split(" ")[0]} (deploy/base/*/rbac.yaml)`;
  if (status === 400)
    return "the API server rejected the request: check the selector options (e.g. --namespace-label-selector)";
  return undefined;
}

function isGone(err: unknown): boolean {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  return e?.code === 410 || e?.statusCode === 410;
}

/** The error with its whole cause chain: "fetch failed: connect ECONNREFUSED 10.0.0.1:443". */
function describe(detail: unknown): unknown {
  if (detail instanceof Error)
    return { name: detail.name, message: causeChain(detail), code: (detail as { code?: unknown }).code };
  return detail;
}
