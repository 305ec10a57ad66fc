// The batch pipeline: redelivery dedup → enrichment → signal → CR writer. A batch's
// promise resolves when every event is reflected in the cluster (its object written) or
// deliberately dropped; the stream server acks the batch only then.
//
// Redelivery, two layers: (1) the object's delivery ledger (emit/ledger.ts) — a batch of an
// agent that names its process is recorded in each whisper together with the counts, so a
// resend after a crash, restart or failover is recognised by whatever replica gets it;
// (2) for all agents, an event id enters the bounded LRU only after its write succeeded, so an
// event whose write never happened is not mistaken for a redelivery; an id already being
// processed (the agent resent the batch meanwhile) waits for that processing and is then
// dropped as a redelivery.
import type { KubeConfig } from "@kubernetes/client-node";
import { LRUCache } from "lru-cache";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { type CrClient, kubeCrClient } from "../emit/kube.ts";
import { type DeliveryTag, LEDGER_AGENT_MAX } from "../emit/ledger.ts";
import { type EventSink, kubeEventSink, PodEvents } from "../emit/pod-events.ts";
import { TokenBucket } from "../emit/token-bucket.ts";
import type { WhisperState } from "../emit/whisper.ts";
import { CrWriter, type WriteOutcome, WriterStoppedError } from "../emit/writer.ts";
import { Enricher, kubeLookupSource, type LookupSource } from "../enrich/index.ts";
import type { AggregatorOptions } from "../options.ts";
import { HpaLookup, type HpaSource, kubeHpaSource } from "../recommend/hpa.ts";
import type { PipelineMetrics } from "./metrics.ts";
import { type PrepareDeps, type Prepared, prepareEvent } from "./prepare.ts";

export { WriterStoppedError } from "../emit/writer.ts";
export { createPipelineMetrics, type PipelineMetrics } from "./metrics.ts";

export interface BatchContext {
  node: string;
  connectionId: string;
  agentVersion: string;
  /**
   * The agent process (Hello.instance_id); "" or absent for agents that do not send one
   * (then only the event-id LRU drops redeliveries). The stream server always sets it;
   * optional so in-process callers without a link (bench, tests) need not invent one.
   */
  instance?: string;
  /** The batch's sequence number on that agent's link (with `instance`). */
  seq?: number;
}

/** What the stream server calls (aggregator/stream BatchHandler). */
export interface BatchHandler {
  handleBatch(ctx: BatchContext, events: WireEvent[]): Promise<{ dropped: number }>;
}

export type PipelineSettings = Pick<
  AggregatorOptions,
  | "projectLabel"
  | "workloadLabel"
  | "ownerCacheSize"
  | "ownerCacheTtl"
  | "redeliveryCacheSize"
  | "throttleWarning"
  | "throttleCritical"
  | "writeQps"
  | "writeBurst"
  | "objectMinInterval"
  | "maxAffectedPods"
  | "podEvents"
  | "podName"
>;

export interface PipelineOptions {
  kubeConfig: KubeConfig;
  clock: Clock;
  log: Logger;
  metrics: PipelineMetrics;
  settings: PipelineSettings;
  cluster: string;
  /** Deadline for flushing pending writes on stop(). Default 10 s. */
  stopDeadlineMs?: number;
  /** Write retry backoff (default 500 ms → 30 s). */
  retry?: { initialMs: number; maxMs: number };
  /** Kubernetes requests are aborted after this long (CR writes retried, lookups fall back). Default 30 s. */
  requestTimeoutMs?: number;
  /** Replace the Kubernetes-backed parts (tests); defaults use kubeConfig. */
  client?: CrClient;
  lookup?: LookupSource;
  hpa?: HpaSource;
  events?: EventSink;
}

/** "redelivered": the object already held the event's batch (delivery ledger). */
type Outcome = WriteOutcome | "dropped" | "redelivered";

export class BatchPipeline implements BatchHandler {
  readonly writer: CrWriter;
  readonly podEvents: PodEvents;
  #o: PipelineOptions;
  #log: Logger;
  #enricher: Enricher;
  #hpa: HpaLookup;
  #done: LRUCache<string, true>;
  #inflight = new Map<string, Promise<Outcome>>();
  /** Batches still being enriched (not yet handed to the writer). */
  #preparing = new Set<Promise<void>>();
  #stopping = false;
  #prepareDeps: PrepareDeps;

  constructor(options: PipelineOptions) {
    this.#o = options;
    const { settings: s, clock, metrics, kubeConfig } = options;
    this.#log = options.log.child({ component: "pipeline" });
    this.#done = new LRUCache({ max: s.redeliveryCacheSize });
    this.#enricher = new Enricher({
      source: options.lookup ?? kubeLookupSource(kubeConfig, options.requestTimeoutMs),
      log: this.#log,
      metrics,
      cluster: options.cluster,
      projectLabel: s.projectLabel,
      workloadLabel: s.workloadLabel,
      cacheSize: s.ownerCacheSize,
      cacheTtlMs: s.ownerCacheTtl,
    });
    this.#hpa = new HpaLookup({
      source: options.hpa ?? kubeHpaSource(kubeConfig, options.requestTimeoutMs),
      log: this.#log,
      ttlMs: s.ownerCacheTtl,
      maxNamespaces: Math.max(100, Math.min(s.ownerCacheSize, 10_000)),
    });
    this.#prepareDeps = {
      enricher: this.#enricher,
      hpa: this.#hpa,
      log: this.#log,
      clock,
      settings: s,
      onRedelivered: (n) => metrics.redeliveriesDropped.inc(n),
    };
    this.podEvents = new PodEvents({
      sink: options.events ?? kubeEventSink(kubeConfig, options.requestTimeoutMs),
      clock,
      log: this.#log,
      metrics,
      instance: s.podName,
      enabled: s.podEvents,
    });
    this.writer = new CrWriter({
      client: options.client ?? kubeCrClient(kubeConfig, options.requestTimeoutMs),
      clock,
      log: options.log.child({ component: "cr-writer" }),
      metrics,
      bucket: new TokenBucket({ rate: s.writeQps, burst: s.writeBurst, clock }),
      minIntervalMs: s.objectMinInterval,
      retryInitialMs: options.retry?.initialMs,
      retryMaxMs: options.retry?.maxMs,
      onCreated: (w) => this.podEvents.whisperCreated(w),
    });
  }

  start(): void {
    this.writer.start();
  }

  /**
   * Refuses new batches, lets the ones being enriched reach the writer, flushes every
   * pending write (ignoring the per-object interval) and waits up to the deadline; what is
   * still unwritten then is rejected with WriterStoppedError (its batch is not acked).
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    const { clock } = this.#o;
    const deadlineMs = this.#o.stopDeadlineMs ?? 10_000;
    const started = clock.monotonic();
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#preparing]),
      new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, deadlineMs);
      }),
    ]);
    if (timer) clock.clearTimeout(timer);
    await this.writer.stop(Math.max(0, deadlineMs - (clock.monotonic() - started)));
    await this.podEvents.drain();
  }

  async handleBatch(ctx: BatchContext, events: WireEvent[]): Promise<{ dropped: number }> {
    if (this.#stopping) throw new WriterStoppedError();
    const { metrics } = this.#o;
    const outcomes: Promise<Outcome>[] = [];
    const fresh: Fresh[] = [];
    for (const ev of events) {
      const id = ev.id ?? "";
      if (id && this.#done.has(id)) {
        metrics.redeliveriesDropped.inc();
        outcomes.push(Promise.resolve("dropped"));
        continue;
      }
      const running = id ? this.#inflight.get(id) : undefined;
      if (running) {
        // The agent resent the batch while this replica is still writing it: wait, then drop.
        outcomes.push(
          running.then(() => {
            metrics.redeliveriesDropped.inc();
            return "dropped" as const;
          }),
        );
        continue;
      }
      const settle = deferred<Outcome>();
      fresh.push({ ev, settle });
      if (!id) {
        outcomes.push(settle.promise);
        continue;
      }
      this.#inflight.set(id, settle.promise);
      outcomes.push(
        settle.promise
          .then((outcome) => {
            if (outcome !== "dropped") this.#done.set(id, true);
            return outcome;
          })
          .finally(() => this.#inflight.delete(id)),
      );
    }
    const applying = this.#apply(ctx, fresh).catch((err: unknown) => {
      for (const f of fresh) f.settle.reject(err);
    });
    this.#preparing.add(applying);
    void applying.finally(() => this.#preparing.delete(applying));
    const results = await Promise.allSettled(outcomes);
    let dropped = 0;
    let invalid = 0;
    for (const r of results) {
      if (r.status === "rejected") throw r.reason;
      if (r.value !== "written") dropped++;
      if (r.value === "dropped") invalid++;
    }
    if (invalid > 0) {
      this.#log.debug({ node: ctx.node, connectionId: ctx.connectionId, dropped: invalid }, "events dropped");
    }
    return { dropped };
  }

  /**
   * Prepares every event of the batch (enrichment awaited first), then records all of the
   * batch's occurrences for each whisper in one synchronous change tagged with the batch's
   * delivery tag, so an object never holds part of a batch (docs/adr/0008).
   */
  async #apply(ctx: BatchContext, fresh: Fresh[]): Promise<void> {
    const tag = deliveryTag(ctx);
    if (ctx.instance && !tag) {
      this.#log.warn(
        { node: ctx.node, instance: ctx.instance, seq: ctx.seq },
        "batch cannot be named in the delivery ledger (node name too long or no sequence number); a resend of it may be counted twice",
      );
    }
    const prepared = await Promise.all(fresh.map((f) => prepareEvent(this.#prepareDeps, ctx, f.ev)));
    const groups = new Map<
      string,
      { create: () => WhisperState; items: [Fresh, Prepared & { kind: "whisper" }][] }
    >();
    for (let i = 0; i < fresh.length; i++) {
      const f = fresh[i] as Fresh;
      const p = prepared[i] as Prepared;
      if (p.kind === "dropped") f.settle.resolve("dropped");
      else if (p.kind === "birth") {
        const cert = p.cert;
        this.#settle(
          f,
          p,
          this.writer.submit(
            `PodBirthCertificate/${cert.namespace}/${cert.name}`,
            () => cert,
            () => true,
          ),
        );
      } else {
        const group = groups.get(p.key) ?? { create: p.create, items: [] };
        group.items.push([f, p]);
        groups.set(p.key, group);
      }
    }
    for (const [key, group] of groups) {
      let redelivered = false;
      let doc: WhisperState | undefined;
      const written = this.writer.submit(key, group.create, (w) => {
        doc = w;
        const r = w.recordBatch(
          tag,
          group.items.map(([, p]) => p.occurrence),
        );
        redelivered = r.redelivered;
        return r.escalate;
      });
      if (redelivered) this.#o.metrics.redeliveriesDropped.inc(group.items.length);
      for (const [f, p] of group.items) {
        this.#settle(
          f,
          p,
          written.then((o) =>
            o === "written" && (redelivered || doc?.wasRedelivered(tag)) ? "redelivered" : o,
          ),
        );
      }
    }
  }

  #settle(f: Fresh, p: Prepared, written: Promise<Outcome>): void {
    written.then(
      (outcome) => {
        if (outcome === "written" && p.kind !== "dropped" && p.observedAtMs > 0) {
          this.#o.metrics.endToEndLatency.observe(
            { type: p.type },
            Math.max(0, this.#o.clock.now() - p.observedAtMs) / 1000,
          );
        }
        f.settle.resolve(outcome);
      },
      (err: unknown) => f.settle.reject(err),
    );
  }
}

/** The batch's name in the delivery ledger; undefined for agents without an instance id. */
function deliveryTag(ctx: BatchContext): DeliveryTag | undefined {
  if (!ctx.instance || ctx.seq === undefined || ctx.seq <= 0) return undefined;
  const agent = `${ctx.node}/${ctx.instance}`;
  return agent.length <= LEDGER_AGENT_MAX ? { agent, seq: ctx.seq } : undefined;
}

interface Fresh {
  ev: WireEvent;
  settle: Deferred<Outcome>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export function createAggregatorPipeline(options: PipelineOptions): BatchPipeline {
  return new BatchPipeline(options);
}
