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
//   take a token from the one global bucket;
// - 409 (another replica wrote the object) re-reads it and writes again with its count as
//   the new baseline; 404 on status (object deleted) re-creates it; 429, 5xx, 403 and
//   network errors back off (jittered, per object) and retry; nothing is dropped.
//
// One file on purpose: scheduling, the write sequence and failure handling share the
// per-object entry state; split, each part would need to know the others' invariants.
import { Backoff } from "../../shared/backoff.ts";
import type { Clock, Timer } from "../../shared/clock.ts";
import { statusOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import { BIRTH_PLURAL, type BirthCertificate } from "./birth.ts";
import type { CrClient } from "./kube.ts";
import type { EmitMetrics } from "./metrics.ts";
import type { TokenBucket } from "./token-bucket.ts";
import { emptyDelta, type KObj, WHISPER_PLURAL, type WhisperState, type WrittenDelta } from "./whisper.ts";
import { messageOf, outcomeOf, retryAfterMs } from "./write-errors.ts";

export type Doc = WhisperState | BirthCertificate;
export type WriteOutcome = "written" | "invalid";

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
  resolve(outcome: WriteOutcome): void;
  reject(err: Error): void;
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
}

export interface WriterOptions {
  client: CrClient;
  clock: Clock;
  log: Logger;
  metrics: Pick<EmitMetrics, "crWrites" | "crWriteDuration" | "writesCoalesced" | "sources">;
  bucket: TokenBucket;
  minIntervalMs: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Idle whispers are forgotten after this long (re-read on next touch). Default 1 h. */
  idleEvictMs?: number;
  /** Called after a whisper was first created by this replica. */
  onCreated?: (doc: WhisperState) => void;
}

type Kind = Doc["kind"];
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

  constructor(options: WriterOptions) {
    this.#o = options;
    options.metrics.sources.pendingObjects = () => this.pending;
    options.metrics.sources.whispers = () => this.#whisperLabels();
  }

  /** Objects with changes not yet written. */
  get pending(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.dirty || e.running || e.waiters.length > 0) n++;
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
   * Applies `change` to the object under `key` (created by `create` on first touch) and
   * returns a promise for the write that will carry it. `change` returns true for an
   * escalation, which skips the per-object minimum interval.
   */
  submit<D extends Doc>(key: string, create: () => D, change: (doc: D) => boolean): Promise<WriteOutcome>;
  /**
   * Without a promise: `waiter` is answered after the write that carries the change
   * (resolve), or rejected with WriterStoppedError when the writer stops first (the
   * pipeline passes its per-(batch, object) record). `change` runs before submit returns.
   */
  submit<D extends Doc>(key: string, create: () => D, change: (doc: D) => boolean, waiter: WriteWaiter): void;
  submit<D extends Doc>(
    key: string,
    create: () => D,
    change: (doc: D) => boolean,
    waiter?: WriteWaiter,
  ): Promise<WriteOutcome> | undefined {
    if (!waiter) {
      return new Promise<WriteOutcome>((resolve, reject) =>
        this.submit(key, create, change, { resolve, reject }),
      );
    }
    if (this.#stopped) {
      waiter.reject(new WriterStoppedError());
      return undefined;
    }
    let entry = this.#entries.get(key);
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
      };
      this.#entries.set(key, entry);
    } else if (entry.dirty) {
      this.#o.metrics.writesCoalesced.inc({ kind: entry.doc.kind });
    }
    if (change(entry.doc as D)) entry.escalate = true;
    entry.dirty = true;
    entry.lastTouchMono = this.#o.clock.monotonic();
    entry.waiters.push(waiter);
    this.#schedule(entry);
    return undefined;
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

  async #request<T>(kind: Kind, call: () => Promise<T>): Promise<T> {
    await this.#o.bucket.acquire();
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
        const observed = await client.get(WHISPER_PLURAL, doc.namespace, doc.name);
        this.#adopt(doc, observed);
        entry.loaded = true;
        entry.exists = observed !== undefined;
        entry.resourceVersion = rvOf(observed);
      }
      if (!entry.exists) {
        phase = "spec";
        const applied = await this.#request(doc.kind, async () => {
          if (doc.kind === "PodBirthCertificate") {
            taken = entry.waiters.splice(0);
            entry.dirty = false;
            entry.escalate = false;
            return client.apply(BIRTH_PLURAL, doc.body());
          }
          return client.apply(WHISPER_PLURAL, doc.specBody());
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
        const body = await this.#request(doc.kind, () => {
          taken = taken.concat(entry.waiters.splice(0));
          entry.dirty = false;
          entry.escalate = false;
          const rendered = doc.statusBody(entry.resourceVersion);
          delta = rendered.delta;
          return client.applyStatus(WHISPER_PLURAL, rendered.body);
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
    if (status === 400 || status === 422) {
      this.#o.log.error(
        { ...what, err: messageOf(err) },
        "the API server refused the object as invalid; it is dropped. Check that the installed CRDs (crds/) match this aggregator version",
      );
      // Everything waiting on this object is answered: retrying the same body cannot help.
      for (const w of taken.concat(entry.waiters.splice(0))) w.resolve("invalid");
      entry.dirty = false;
      entry.escalate = false;
      return undefined;
    }
    entry.waiters.unshift(...taken);
    entry.dirty = true;
    if (status === 409) {
      entry.loaded = false;
      entry.conflicts++;
      this.#o.log.debug(what, "write conflict: another replica wrote the object; re-reading it");
      return entry.conflicts <= 2 ? 0 : entry.backoff.next();
    }
    if (status === 404 && phase !== "status") {
      const delay = entry.backoff.next();
      this.#o.log.error(
        { ...what, retryInMs: delay },
        `the ${doc.kind} resource is not served: install the CRDs (kubectl apply -f crds/); retrying`,
      );
      return delay;
    }
    if (status === 404 && doc.kind === "KernelWhisper") {
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
      status === 403
        ? `${phase === "read" ? "reading" : "writing"} the custom resource is forbidden; retrying. Check the aggregator's RBAC for kernel.gossip.io (docs/crds.md)`
        : `${phase === "read" ? "reading" : "writing"} the custom resource failed; retrying with backoff`,
    );
    return delay;
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
    this.#o.bucket.close(new WriterStoppedError());
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

function rvOf(obj: KObj | undefined): string | undefined {
  const rv = obj?.metadata?.resourceVersion;
  return typeof rv === "string" ? rv : undefined;
}
