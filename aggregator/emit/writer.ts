// The CR writer: coalesces changes per object (latest wins), limits the write rate
// globally (token bucket) and per object (minimum interval), retries with backoff.
//
// Invariants:
// - at most one write in flight per object; changes arriving meanwhile make it dirty and
//   are written by the next write;
// - a submit's promise resolves after the next *successful* write of its object that was
//   rendered after the change (the body is rendered after the token is taken, so waiting
//   for a token coalesces too); it resolves "invalid" when the API server refuses the object
//   for good (400/422: logged, counted), and rejects only when the writer stops;
// - an object is written at most once per minIntervalMs, except its first write and
//   escalations (severity up, resolved → active again), which are due at once; all writes
//   take a token from the one global bucket, handed out fairly (fair-budget.ts): retries and
//   first attempts in separate lanes, the nodes whose batches wait taking turns;
// - every failure is classified (write-errors.ts classifyWriteFailure). Permanent ones — the
//   namespace does not exist or is being deleted, 400/422, a body that cannot be rendered —
//   answer everything waiting on the object with the reason (the batch is acked, its events
//   counted as dropped by the pipeline), are logged once per namespace and reason per
//   10 minutes, and forget the object; a namespace found missing answers new changes for it
//   at once for NAMESPACE_GONE_MS without a request;
// - 409 (another replica wrote the object) re-reads it and writes again with its count as
//   the new baseline; 404 on status (object deleted) re-creates it; 429, 5xx, other 403s,
//   404 of an unserved resource (CRDs missing) and network errors back off (jittered, per
//   object) and retry: the object counts as retrying (a gauge) until a write succeeds.
//
// One file on purpose: scheduling, the write sequence and failure handling share the
// per-object entry state; split, each part would need to know the others' invariants.
import { LRUCache } from "lru-cache";
import { Backoff } from "../../shared/backoff.ts";
import type { Clock, Timer } from "../../shared/clock.ts";
import { statusOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { TokenBucket } from "../../shared/token-bucket.ts";
import { BIRTH_PLURAL, type BirthCertificate } from "./birth.ts";
import { FairBudget, FairReads, type Lane } from "./fair-budget.ts";
import type { CrClient } from "./kube.ts";
import type { EmitMetrics } from "./metrics.ts";
import { emptyDelta, type KObj, WHISPER_PLURAL, type WhisperState, type WrittenDelta } from "./whisper.ts";
import { classifyWriteFailure, messageOf, outcomeOf, RenderError, retryAfterMs } from "./write-errors.ts";

export type Doc = WhisperState | BirthCertificate;
/** "written", or why the change will never be written (the write failed for good). */
export type WriteOutcome =
  | "written"
  | "invalid"
  | "unrenderable"
  | "namespace_not_found"
  | "namespace_terminating"
  | "shed";

/** After a write found an object's namespace missing, changes for it are answered without a request for this long. */
export const NAMESPACE_GONE_MS = 10_000;
/** First-touch GETs in flight at most (fair-budget.ts FairReads). */
export const FIRST_READS_IN_FLIGHT = 8;

export class WriterStoppedError extends Error {
  override name = "WriterStoppedError";
  constructor() {
    super("the CR writer is stopping; the change was not written (the agent resends it)");
  }
}

/**
 * Who waits for an object's next write. The pipeline passes one per (batch, object) — the
 * batch's own record, not a promise per event — so what waits under the write rate limit is
 * O(objects × batches), never the batch's events.
 */
export interface WriteWaiter {
  /** Who the change came from (the agent's node): writes take turns by source. */
  readonly source?: string;
  resolve(outcome: WriteOutcome): void;
  reject(err: Error): void;
  /**
   * False when nobody's ack waits for this write any more (state acked once folded, ADR
   * 0011): the object's requests then wait behind urgent ones for a token. Default true.
   */
  readonly urgent?: boolean;
}
type Waiter = WriteWaiter;

interface Entry {
  key: string;
  doc: Doc;
  loaded: boolean;
  exists: boolean;
  /** The object was created by this replica (for the pod Event). */
  created: boolean;
  resourceVersion: string | undefined;
  waiters: Waiter[];
  dirty: boolean;
  escalate: boolean;
  running: boolean;
  timer: Timer | undefined;
  dueAt: number;
  notBefore: number;
  lastWriteMono: number | undefined;
  lastTouchMono: number;
  backoff: Backoff;
  conflicts: number;
  /** Source of the oldest change waiting (fair-budget.ts). */
  source: string;
  /** Failed writes since the last success: > 0 means retrying. */
  failures: number;
}

export interface WriterOptions {
  client: CrClient;
  clock: Clock;
  log: Logger;
  metrics: Pick<EmitMetrics, "crWrites" | "crWriteDuration" | "writesCoalesced" | "sources">;
  /** The global write rate limit; the writer orders who is served (fair-budget.ts). */
  bucket: TokenBucket;
  minIntervalMs: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /**
   * Objects held at most (pending or idle). When full, idle objects are forgotten (oldest
   * first; re-read on their next change), then changes for new objects are shed: answered
   * "shed" at once (the pipeline acks and counts them). Default unbounded.
   */
  maxObjects?: number;
  /** Idle whispers are forgotten after this long (re-read on next touch). Default 1 h. */
  idleEvictMs?: number;
  /** Called after a whisper was first created by this replica. */
  onCreated?: (doc: WhisperState) => void;
}

/** Which request of a write failed: the first-touch GET, the spec apply or the status apply. */
type Phase = "read" | "spec" | "status";

export class CrWriter {
  #o: WriterOptions;
  #entries = new Map<string, Entry>();
  #flushing = false;
  #stopped = false;
  #idle: (() => void)[] = [];
  #quiet: (() => void)[] = [];
  #running = 0;
  #sweepTimer: Timer | undefined;
  #budget: FairBudget;
  #reads = new FairReads(FIRST_READS_IN_FLIGHT);
  #shed = 0;
  #shedLoggedAt = Number.NEGATIVE_INFINITY;
  /** Namespace → monotonic time until which it is known not to exist. */
  #goneNamespaces = new Map<string, number>();
  /** Permanent failures logged recently, by reason and namespace (log once per 10 min). */
  #logged = new LRUCache<string, true>({ max: 10_000, ttl: 600_000 });

  constructor(options: WriterOptions) {
    this.#o = options;
    this.#budget = new FairBudget(options.bucket);
    options.metrics.sources.pendingObjects = () => this.pending;
    options.metrics.sources.retryingObjects = () => this.retrying;
    options.metrics.sources.whispers = () => this.#whisperLabels();
  }

  /** Objects with changes not yet written. */
  get pending(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.dirty || e.running || e.waiters.length > 0) n++;
    return n;
  }

  /** Objects whose last write failed and that wait to retry (stuck when this stays up). */
  get retrying(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.failures > 0) n++;
    return n;
  }

  get size(): number {
    return this.#entries.size;
  }

  *#whisperLabels(): Iterable<{ signal: string; severity: string }> {
    for (const e of this.#entries.values()) {
      if (e.doc.kind === "KernelWhisper") yield { signal: e.doc.identity.signal, severity: e.doc.severity };
    }
  }

  start(): void {
    const every = Math.max(1000, (this.#o.idleEvictMs ?? 3_600_000) / 2);
    const tick = () => {
      this.#sweep();
      this.#sweepTimer = this.#o.clock.setTimeout(tick, every);
    };
    this.#sweepTimer = this.#o.clock.setTimeout(tick, every);
  }

  /**
   * Applies `change` to the object under `key` (created by `create` on first touch); `change`
   * returns true for an escalation, which skips the per-object minimum interval, and runs
   * before submit returns. `waiter` is answered after the write that carries the change
   * (resolve), or rejected with WriterStoppedError when the writer stops first (the pipeline
   * passes its per-(batch, object) record).
   */
  submit<D extends Doc>(
    key: string,
    create: () => D,
    change: (doc: D) => boolean,
    waiter: WriteWaiter,
  ): void {
    if (this.#stopped) {
      waiter.reject(new WriterStoppedError());
      return;
    }
    let entry = this.#entries.get(key);
    if (!entry && !this.#room()) {
      this.#shed++;
      const now = this.#o.clock.monotonic();
      if (now - this.#shedLoggedAt > 60_000) {
        this.#shedLoggedAt = now;
        this.#o.log.warn(
          { objects: this.#entries.size, maxObjects: this.#o.maxObjects, shedSoFar: this.#shed, key },
          'the writer holds its maximum of objects, all waiting to be written: changes for new objects are shed (acknowledged, counted in kernel_gossip_aggregator_events_dropped_total{reason="shed"}). Is the API server refusing or throttling writes? Raise --max-pending-objects or --write-qps',
        );
      }
      waiter.resolve("shed");
      return;
    }
    if (!entry && this.#goneNamespaces.size > 0) {
      const namespace = key.split("/")[1] ?? "";
      const until = this.#goneNamespaces.get(namespace);
      if (until !== undefined && until > this.#o.clock.monotonic()) {
        waiter.resolve("namespace_not_found");
        return;
      }
      this.#goneNamespaces.delete(namespace);
    }
    if (!entry) {
      const doc = create();
      entry = {
        key,
        doc,
        loaded: doc.kind !== "KernelWhisper",
        exists: false,
        created: false,
        resourceVersion: undefined,
        waiters: [],
        dirty: false,
        escalate: false,
        running: false,
        timer: undefined,
        dueAt: 0,
        notBefore: 0,
        lastWriteMono: undefined,
        lastTouchMono: 0,
        backoff: new Backoff({
          initialMs: this.#o.retryInitialMs ?? 500,
          maxMs: this.#o.retryMaxMs ?? 30_000,
        }),
        conflicts: 0,
        source: "",
        failures: 0,
      };
      this.#entries.set(key, entry);
    } else if (entry.dirty) {
      this.#o.metrics.writesCoalesced.inc({ kind: entry.doc.kind });
    }
    if (change(entry.doc as D)) entry.escalate = true;
    entry.dirty = true;
    entry.lastTouchMono = this.#o.clock.monotonic();
    if (entry.waiters.length === 0) entry.source = waiter.source ?? "";
    entry.waiters.push(waiter);
    this.#schedule(entry);
    return;
  }

  #schedule(entry: Entry): void {
    if (entry.running || this.#stopped || (!entry.dirty && entry.waiters.length === 0)) return;
    const now = this.#o.clock.monotonic();
    let due = now;
    if (!this.#flushing && !entry.escalate && entry.lastWriteMono !== undefined) {
      due = entry.lastWriteMono + this.#o.minIntervalMs;
    }
    due = Math.max(due, entry.notBefore);
    if (entry.timer) {
      if (entry.dueAt <= due) return;
      this.#o.clock.clearTimeout(entry.timer);
    }
    entry.dueAt = due;
    entry.timer = this.#o.clock.setTimeout(
      () => {
        entry.timer = undefined;
        void this.#run(entry);
      },
      Math.max(0, due - now),
    );
  }

  async #request<T>(entry: Entry, call: () => Promise<T>): Promise<T> {
    const kind = entry.doc.kind;
    // Writes no ack waits for (state, ADR 0011) queue behind the others (fair-budget.ts).
    const retrying = entry.failures > 0 || entry.conflicts > 0;
    const lane: Lane = !entry.waiters.some((w) => w.urgent !== false)
      ? "state"
      : retrying
        ? "retry"
        : kind === "PodBirthCertificate"
          ? "birth"
          : "first";
    await this.#budget.acquire(lane, entry.source);
    const started = this.#o.clock.monotonic();
    try {
      const result = await call();
      this.#o.metrics.crWrites.inc({ kind, outcome: "success" });
      return result;
    } catch (err) {
      this.#o.metrics.crWrites.inc({ kind, outcome: outcomeOf(statusOf(err)) });
      throw err;
    } finally {
      this.#o.metrics.crWriteDuration.observe({ kind }, (this.#o.clock.monotonic() - started) / 1000);
    }
  }

  async #run(entry: Entry): Promise<void> {
    if (entry.running || this.#stopped) return;
    entry.running = true;
    this.#running++;
    const { client } = this.#o;
    const doc = entry.doc;
    let taken: Waiter[] = [];
    let retryIn: number | undefined;
    let phase: Phase = "read";
    try {
      if (!entry.loaded && doc.kind === "KernelWhisper") {
        const release = await this.#reads.acquire(entry.source);
        let observed: KObj | undefined;
        try {
          observed = await client.get(WHISPER_PLURAL, doc.namespace, doc.name);
        } finally {
          release();
        }
        this.#adopt(doc, observed);
        entry.loaded = true;
        entry.exists = observed !== undefined;
        entry.resourceVersion = rvOf(observed);
      }
      if (!entry.exists) {
        phase = "spec";
        const applied = await this.#request(entry, async () => {
          if (doc.kind === "PodBirthCertificate") {
            taken = entry.waiters.splice(0);
            entry.dirty = false;
            entry.escalate = false;
            return client.apply(
              BIRTH_PLURAL,
              rendered(() => doc.body()),
            );
          }
          return client.apply(
            WHISPER_PLURAL,
            rendered(() => doc.specBody()),
          );
        });
        entry.exists = true;
        // 201: this replica created it (the other replica may have raced us to it: then 200)
        entry.created = doc.kind === "KernelWhisper" && applied.created;
        entry.resourceVersion = rvOf(applied.object);
        if (doc.kind === "KernelWhisper" && !applied.created) {
          // Another replica created it after our read (and may have written counts since):
          // the object as the apply returned it is the baseline, or its counts would be
          // overwritten by ours with a resourceVersion that is not stale.
          this.#adopt(doc, applied.object);
        }
      }
      if (doc.kind === "KernelWhisper") {
        phase = "status";
        let delta: WrittenDelta = emptyDelta();
        const body = await this.#request(entry, async () => {
          taken = taken.concat(entry.waiters.splice(0));
          entry.dirty = false;
          entry.escalate = false;
          const status = rendered(() => doc.statusBody(entry.resourceVersion));
          delta = status.delta;
          return client.applyStatus(WHISPER_PLURAL, status.body);
        });
        doc.committed(delta);
        entry.resourceVersion = rvOf(body);
        if (entry.created) {
          entry.created = false;
          try {
            this.#o.onCreated?.(doc);
          } catch (err) {
            this.#o.log.warn({ err, name: doc.name }, "pod event hook failed");
          }
        }
      }
      entry.lastWriteMono = this.#o.clock.monotonic();
      entry.backoff.reset();
      entry.conflicts = 0;
      entry.failures = 0;
      entry.notBefore = 0;
      for (const w of taken) w.resolve("written");
      taken = [];
      if (doc.kind === "PodBirthCertificate" && !entry.dirty && entry.waiters.length === 0) {
        this.#entries.delete(entry.key);
      }
    } catch (err) {
      if (err instanceof WriterStoppedError || this.#stopped) {
        for (const w of taken) w.reject(new WriterStoppedError());
        taken = [];
        return;
      }
      retryIn = this.#failed(entry, err, taken, phase);
      taken = [];
    } finally {
      entry.running = false;
      this.#running--;
      if (retryIn !== undefined) entry.notBefore = this.#o.clock.monotonic() + retryIn;
      this.#schedule(entry);
      this.#checkIdle();
    }
  }

  #adopt(doc: WhisperState, observed: KObj | undefined): void {
    const { malformed } = doc.adopt(observed);
    if (malformed > 0) {
      this.#o.log.warn(
        { namespace: doc.namespace, name: doc.name, malformed },
        "the whisper's status.deliveries held malformed entries; they were ignored (a batch they named may be counted again). Was the status edited by hand?",
      );
    }
  }

  /** Handles a failed write; returns the delay before the retry (undefined: none needed). */
  #failed(entry: Entry, err: unknown, taken: Waiter[], phase: Phase): number | undefined {
    const status = statusOf(err);
    const doc = entry.doc;
    const what = { kind: doc.kind, namespace: doc.namespace, name: doc.name, status, phase };
    const failure = classifyWriteFailure(err, phase);
    if (failure.permanent) {
      const waiting = taken.concat(entry.waiters.splice(0));
      this.#logPermanent(failure.reason, what, err, waiting.length);
      if (failure.reason === "namespace_not_found") {
        this.#goneNamespaces.set(doc.namespace, this.#o.clock.monotonic() + NAMESPACE_GONE_MS);
      }
      // Everything waiting on this object is answered: retrying the same body cannot help.
      for (const w of waiting) w.resolve(failure.reason);
      entry.dirty = false;
      entry.escalate = false;
      entry.failures = 0;
      // Forgotten: a later change starts from the cluster again (the namespace may be back).
      if (!entry.timer) this.#entries.delete(entry.key);
      return undefined;
    }
    entry.waiters.unshift(...taken);
    entry.dirty = true;
    if (failure.reason === "conflict") {
      entry.loaded = false;
      entry.conflicts++;
      this.#o.log.debug(what, "write conflict: another replica wrote the object; re-reading it");
      return entry.conflicts <= 2 ? 0 : entry.backoff.next();
    }
    entry.failures++;
    if (failure.reason === "not_served") {
      const delay = entry.backoff.next();
      this.#o.log.error(
        { ...what, err: messageOf(err), retryInMs: delay },
        `the ${doc.kind} resource is not served: install the CRDs (kubectl apply -f crds/); retrying`,
      );
      return delay;
    }
    if (failure.reason === "gone" && doc.kind === "KernelWhisper") {
      entry.exists = false;
      entry.resourceVersion = undefined;
      doc.forgetCluster();
      this.#o.log.info(what, "whisper was deleted meanwhile; creating it again");
      const first = entry.backoff.attempt === 0;
      const delay = entry.backoff.next();
      return first ? 0 : delay;
    }
    const delay = Math.max(entry.backoff.next(), retryAfterMs(err));
    this.#o.log.warn(
      { ...what, err: messageOf(err), retryInMs: delay, attempt: entry.backoff.attempt },
      failure.reason === "forbidden"
        ? `${phase === "read" ? "reading" : "writing"} the custom resource is forbidden; retrying. Check the aggregator's RBAC for kernel.gossip.io (docs/crds.md)`
        : `${phase === "read" ? "reading" : "writing"} the custom resource failed; retrying with backoff`,
    );
    return delay;
  }

  /** One line per namespace and reason per 10 minutes: a deleted namespace may hold many objects. */
  #logPermanent(
    reason: WriteOutcome,
    what: Record<string, unknown> & { kind: string; namespace: string; name: string },
    err: unknown,
    waiting: number,
  ): void {
    const key = `${reason}/${what.namespace}`;
    if (this.#logged.has(key)) return;
    this.#logged.set(key, true);
    const detail = { ...what, reason, err: messageOf(err), batchesAnswered: waiting };
    const tail =
      "its events are acknowledged and counted in kernel_gossip_aggregator_events_dropped_total{reason}; further objects of this namespace failing the same way are not logged for 10 minutes";
    switch (reason) {
      case "namespace_not_found":
        this.#o.log.warn(
          detail,
          `the ${what.kind} ${what.namespace}/${what.name} cannot be written: namespace "${what.namespace}" does not exist (deleted after the event was seen?); dropped, ${tail}`,
        );
        return;
      case "namespace_terminating":
        this.#o.log.warn(
          detail,
          `the ${what.kind} ${what.namespace}/${what.name} cannot be written: namespace "${what.namespace}" is being deleted; dropped, ${tail}`,
        );
        return;
      case "unrenderable":
        this.#o.log.error(
          detail,
          `the ${what.kind} ${what.namespace}/${what.name} cannot be rendered (a value no custom resource can hold; an agent sent an out-of-range field the edge did not catch); dropped, ${tail}`,
        );
        return;
      default:
        this.#o.log.error(
          detail,
          `the API server refused the ${what.kind} ${what.namespace}/${what.name} as invalid; dropped, ${tail}. Check that the installed CRDs (crds/) match this aggregator version`,
        );
    }
  }

  /** Room for one more object: true when under maxObjects, after forgetting idle ones if needed. */
  #room(): boolean {
    const max = this.#o.maxObjects;
    if (max === undefined || this.#entries.size < max) return true;
    // Oldest first (insertion order); an idle object is re-read on its next change. At most
    // 256 looked at per call, so a writer full of pending objects sheds in O(1).
    let looked = 0;
    for (const [key, e] of this.#entries) {
      if (this.#entries.size < max || ++looked > 256) break;
      if (!e.running && !e.dirty && e.waiters.length === 0 && !e.timer) this.#entries.delete(key);
    }
    return this.#entries.size < max;
  }

  #sweep(): void {
    const limit = this.#o.idleEvictMs ?? 3_600_000;
    const now = this.#o.clock.monotonic();
    for (const [key, e] of this.#entries) {
      if (!e.running && !e.dirty && e.waiters.length === 0 && !e.timer && now - e.lastTouchMono > limit) {
        this.#entries.delete(key);
      }
    }
  }

  #checkIdle(): void {
    if (this.#running === 0) for (const resolve of this.#quiet.splice(0)) resolve();
    if (this.pending > 0) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Resolves when no write is in flight (some may still be scheduled): tests on a ManualClock. */
  settled(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#quiet.push(resolve));
  }

  /** Resolves when nothing is pending. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Writes everything pending at once (ignoring the per-object interval, still within the
   * global rate) and waits up to `deadlineMs`; what is still unwritten then is rejected
   * with WriterStoppedError (the agents resend it to another replica).
   */
  async stop(deadlineMs: number): Promise<void> {
    this.#flushing = true;
    for (const e of this.#entries.values()) {
      if (e.timer) {
        this.#o.clock.clearTimeout(e.timer);
        e.timer = undefined;
      }
      e.notBefore = 0;
      this.#schedule(e);
    }
    let timer: Timer | undefined;
    await Promise.race([
      this.idle(),
      new Promise<void>((resolve) => {
        timer = this.#o.clock.setTimeout(resolve, deadlineMs);
      }),
    ]);
    if (timer) this.#o.clock.clearTimeout(timer);
    this.#stopped = true;
    if (this.#sweepTimer) this.#o.clock.clearTimeout(this.#sweepTimer);
    this.#budget.close(new WriterStoppedError());
    const left = this.pending;
    for (const e of this.#entries.values()) {
      if (e.timer) this.#o.clock.clearTimeout(e.timer);
      for (const w of e.waiters.splice(0)) w.reject(new WriterStoppedError());
    }
    if (left > 0)
      this.#o.log.warn({ objects: left }, "stopped with unwritten changes; agents will resend them");
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}

/** The body `render` returns; a throw (e.g. a date no Date can hold) becomes a RenderError: permanent. */
function rendered<T>(render: () => T): T {
  try {
    return render();
  } catch (err) {
    throw new RenderError(`rendering the object failed: ${(err as Error).message}`);
  }
}

function rvOf(obj: KObj | undefined): string | undefined {
  const rv = obj?.metadata?.resourceVersion;
  return typeof rv === "string" ? rv : undefined;
}
