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
import { KernelGossipError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { TokenBucket } from "../../shared/token-bucket.ts";
import { type CrClient, kubeCrClient } from "../emit/kube.ts";
import { type DeliveryTag, LEDGER_AGENT_MAX } from "../emit/ledger.ts";
import { type EventSink, kubeEventSink, PodEvents } from "../emit/pod-events.ts";
import {
  type Occurrence,
  type WhisperIdentity,
  type WhisperSettings,
  WhisperState,
} from "../emit/whisper.ts";
import { CrWriter, WriterStoppedError } from "../emit/writer.ts";
import { Enricher, EnrichMemo, kubeLookupSource, type LookupSource } from "../enrich/index.ts";
import { type Binding, PodBinder, type PodSource } from "../enrich/pods.ts";
import { kubePodSource } from "../enrich/source.ts";
import type { AggregatorOptions } from "../options/index.ts";
import { HpaLookup, type HpaSource, kubeHpaSource } from "../recommend/hpa.ts";
import {
  type BatchContext,
  type BatchHandler,
  type Enriched,
  type PodIdentity,
  STATE_SIGNALS,
} from "../types/index.ts";
import type { PipelineMetrics } from "./metrics.ts";
import { ObjectWait, PendingBatch } from "./pending-batch.ts";
import { identifyPod, NameMemo, type PrepareDeps, type Prepared, prepareEvent } from "./prepare.ts";

export { WriterStoppedError } from "../emit/writer.ts";
export { createPipelineMetrics, type PipelineMetrics } from "./metrics.ts";

export type { BatchContext, BatchHandler };

export type PipelineSettings = Pick<
  AggregatorOptions,
  | "projectLabel"
  | "workloadLabel"
  | "ownerCacheSize"
  | "ownerCacheTtl"
  | "redeliveryCacheSize"
  | "redeliveryCacheBytes"
  | "maxPendingObjects"
  | "maxPendingBytes"
  | "throttleWarning"
  | "throttleCritical"
  | "memoryWarning"
  | "memoryCritical"
  | "writeQps"
  | "writeBurst"
  | "objectMinInterval"
  | "maxAffectedPods"
  | "podEvents"
  | "podName"
  | "verifyPods"
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
  pods?: PodSource;
}

/** "redelivered": the object already held the event's batch (delivery ledger). */

/**
 * How long a pod seen alive vouches for events about it after it is gone (a crash loop, then
 * deletion; an agent resending after an outage): docs/security.md.
 */
export const POD_SEEN_TTL_MS = 3_600_000;
/** Bookkeeping bytes counted per remembered event id on top of its length (LRU node, map entry). */
const ID_OVERHEAD_BYTES = 64;

export class BatchPipeline implements BatchHandler {
  readonly writer: CrWriter;
  /** The write token bucket (its rate is this replica's share of the cluster budget). */
  readonly bucket: TokenBucket;
  readonly podEvents: PodEvents;
  #o: PipelineOptions;
  #log: Logger;
  #enricher: Enricher;
  #hpa: HpaLookup;
  #done: LRUCache<string, true>;
  /** Event id → the batch processing it (resends wait for it). */
  #inflight = new Map<string, PendingBatch>();
  #names = new NameMemo();
  #whisperSettings: WhisperSettings;
  /** Batches still being enriched (not yet handed to the writer). */
  #preparing = new Set<Promise<void>>();
  #stopping = false;
  #prepareDeps: PrepareDeps;
  /** Node binding against the API server's pods (settings.verifyPods); undefined: trust the frame handler's check. */
  #binder: PodBinder | undefined;

  constructor(options: PipelineOptions) {
    this.#o = options;
    const { settings: s, clock, metrics, kubeConfig } = options;
    this.#log = options.log.child({ component: "pipeline" });
    // Bounded by count and by bytes: ids are short from real agents, but the bound must not
    // depend on it (ids of up to EVENT_LIMITS.idChars pass the edge).
    this.#done = new LRUCache({
      max: s.redeliveryCacheSize,
      maxSize: s.redeliveryCacheBytes,
      sizeCalculation: (_value, id) => id.length + ID_OVERHEAD_BYTES,
    });
    metrics.redelivery.bytes = () => this.#done.calculatedSize;
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
    if (s.verifyPods) {
      this.#binder = new PodBinder({
        source: options.pods ?? kubePodSource(kubeConfig, options.requestTimeoutMs),
        cacheSize: Math.max(s.ownerCacheSize, 10_000),
        seenTtlMs: POD_SEEN_TTL_MS,
      });
    }
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
    this.#whisperSettings = {
      thresholds: {
        warning: s.throttleWarning,
        critical: s.throttleCritical,
        memoryWarning: s.memoryWarning,
        memoryCritical: s.memoryCritical,
      },
      maxAffectedPods: s.maxAffectedPods,
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
    this.bucket = new TokenBucket({ rate: s.writeQps, burst: s.writeBurst, clock });
    this.writer = new CrWriter({
      client: options.client ?? kubeCrClient(kubeConfig, options.requestTimeoutMs),
      clock,
      log: options.log.child({ component: "cr-writer" }),
      metrics,
      bucket: this.bucket,
      minIntervalMs: s.objectMinInterval,
      maxObjects: s.maxPendingObjects,
      maxBytes: s.maxPendingBytes,
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

  handleBatch(ctx: BatchContext, events: WireEvent[]): Promise<{ dropped: number }> {
    if (this.#stopping) return Promise.reject(new WriterStoppedError());
    const { metrics } = this.#o;
    const batch = new PendingBatch((b, err) => this.#settled(b, err), ctx.node);
    batch.onRedelivered = (n) => metrics.redeliveriesDropped.inc(n);
    batch.onDropped = (reason, n) => metrics.eventsDropped.inc({ reason }, n);
    const fresh: Fresh[] = [];
    for (const ev of events) {
      const id = ev.id ?? "";
      if (id && this.#done.has(id)) {
        metrics.redeliveriesDropped.inc();
        batch.dropped++;
        continue;
      }
      const running = id ? this.#inflight.get(id) : undefined;
      if (running === batch) {
        // The same id twice in one batch: the first one stands for both.
        metrics.redeliveriesDropped.inc();
        batch.dropped++;
        continue;
      }
      if (running) {
        // The agent resent the batch while this replica is still writing it: wait, then drop.
        running.follow(batch, 1);
        continue;
      }
      if (id) {
        this.#inflight.set(id, batch);
        fresh.push({ ev, id: batch.ids.push(id) - 1 });
      } else fresh.push({ ev, id: -1 });
    }
    try {
      const applying = this.#apply(ctx, batch, fresh);
      if (applying) {
        const tracked = applying.catch((err: unknown) => batch.fail(err));
        this.#preparing.add(tracked);
        void tracked.finally(() => this.#preparing.delete(tracked));
      }
    } catch (err) {
      batch.fail(err);
    }
    return batch.promise.then((r) => {
      if (r.dropped > 0) {
        this.#log.debug(
          { node: ctx.node, connectionId: ctx.connectionId, dropped: r.dropped },
          "events dropped",
        );
      }
      return r;
    });
  }

  /** Clears the batch's ids from the in-flight map; remembers them as done on success. */
  #settled(batch: PendingBatch, err: unknown): void {
    for (const id of batch.ids) {
      if (!id || this.#inflight.get(id) !== batch) continue;
      this.#inflight.delete(id);
      if (err === undefined) this.#done.set(id, true);
    }
  }

  /**
   * Enriches the batch's events (cache hits synchronously, one promise per miss; HPA lookups
   * once per workload and batch), then records all of the batch's occurrences for each
   * whisper in one synchronous change tagged with the batch's delivery tag, so an object
   * never holds part of a batch (docs/adr/0008). Returns a promise only when it had to wait.
   */
  #apply(ctx: BatchContext, batch: PendingBatch, fresh: Fresh[]): Promise<void> | undefined {
    const binder = this.#binder;
    if (!binder) return this.#enrich(ctx, batch, fresh);
    const bindings: (Binding | undefined)[] = new Array(fresh.length);
    let lookups: Promise<void>[] | undefined;
    for (let i = 0; i < fresh.length; i++) {
      const pod = (fresh[i] as Fresh).ev.pod;
      if (!pod?.uid || !pod.namespace || !pod.name) continue; // identifyPod drops it, warned
      const known = binder.bindCached(pod, ctx.node);
      if (known) bindings[i] = known;
      else {
        lookups ??= [];
        lookups.push(
          binder.bind(pod, ctx.node).then((b) => {
            bindings[i] = b;
          }),
        );
      }
    }
    const bound = (): Promise<void> | undefined =>
      this.#enrich(ctx, batch, this.#bound(ctx, batch, fresh, bindings));
    if (lookups) return Promise.all(lookups).then(bound);
    return bound();
  }

  /**
   * Applies the bindings: a pod on another node refuses the whole batch (nothing of it was
   * handed to the writer yet), a pod gone and never seen alive drops its event, and every
   * other event gets the pod as the API server has it (labels and owners included).
   */
  #bound(ctx: BatchContext, batch: PendingBatch, fresh: Fresh[], bindings: (Binding | undefined)[]): Fresh[] {
    for (let i = 0; i < fresh.length; i++) {
      const b = bindings[i];
      if (b?.kind !== "mismatch") continue;
      const { ev } = fresh[i] as Fresh;
      throw new KernelGossipError(
        "KG_NODE_MISMATCH",
        `batch ${ctx.seq ?? 0} event ${ev.id} is about pod ${ev.pod?.namespace}/${ev.pod?.name}, which the API server has on node "${b.actualNode}", connection is bound to node "${ctx.node}"`,
      );
    }
    const kept: Fresh[] = [];
    let gone = 0;
    for (let i = 0; i < fresh.length; i++) {
      const f = fresh[i] as Fresh;
      const b = bindings[i];
      if (b?.kind === "gone") {
        gone++;
        this.#forget(batch, f);
        continue;
      }
      if (b?.kind === "ok") f.ev.pod = b.pod;
      kept.push(f);
    }
    if (gone > 0) {
      batch.dropped += gone;
      this.#o.metrics.eventsDropped.inc({ reason: "pod_not_found" }, gone);
      this.#log.debug(
        { node: ctx.node, seq: ctx.seq, events: gone },
        "events about pods that no longer exist and were never seen alive by this replica dropped",
      );
    }
    return kept;
  }

  /** An event that will not reach an object leaves the in-flight map (not remembered as done). */
  #forget(batch: PendingBatch, f: Fresh): void {
    if (f.id < 0) return;
    const id = batch.ids[f.id] as string;
    if (this.#inflight.get(id) === batch) this.#inflight.delete(id);
    batch.ids[f.id] = "";
  }

  #enrich(ctx: BatchContext, batch: PendingBatch, fresh: Fresh[]): Promise<void> | undefined {
    const tag = deliveryTag(ctx);
    if (ctx.instance && !tag) {
      this.#log.warn(
        { node: ctx.node, instance: ctx.instance, seq: ctx.seq },
        "batch cannot be named in the delivery ledger (node name too long or no sequence number); a resend of it may be counted twice",
      );
    }
    const pods: (PodIdentity | undefined)[] = new Array(fresh.length);
    const enriched: (Enriched | undefined)[] = new Array(fresh.length);
    let misses: Promise<void>[] | undefined;
    const memo = new EnrichMemo();
    for (let i = 0; i < fresh.length; i++) {
      const ev = (fresh[i] as Fresh).ev;
      const pod = identifyPod(this.#prepareDeps, ctx, ev);
      pods[i] = pod;
      if (!pod || !ev.pod) continue;
      const hit = this.#enricher.enrichCached(ev.pod, memo);
      if (hit) enriched[i] = hit;
      else {
        const podRef = ev.pod;
        misses ??= [];
        misses.push(
          this.#enricher.enrich(podRef).then((e) => {
            enriched[i] = e;
          }),
        );
      }
    }
    this.#enricher.flush(memo);
    const prepare = (): Promise<void> | undefined => {
      const groups = this.#group(ctx, batch, fresh, pods, enriched);
      const throttling = [...groups.values()].filter((g) => g.identity.signal === "CPUThrottling");
      if (throttling.length === 0) return this.#submit(batch, tag, groups);
      return Promise.all(
        throttling.map((g) =>
          this.#hpa.find(g.identity.namespace, g.identity.workload).then((name) => {
            for (const o of g.occurrences) o.hpa = name;
          }),
        ),
      ).then(() => this.#submit(batch, tag, groups));
    };
    if (misses) return Promise.all(misses).then(prepare);
    return prepare();
  }

  /**
   * Prepares the batch's events and groups the whisper occurrences by object; a birth
   * certificate is submitted at once, a dropped event leaves the in-flight map.
   */
  #group(
    ctx: BatchContext,
    batch: PendingBatch,
    fresh: Fresh[],
    pods: (PodIdentity | undefined)[],
    enriched: (Enriched | undefined)[],
  ): Map<string, Group> {
    const groups = new Map<string, Group>();
    for (let i = 0; i < fresh.length; i++) {
      const f = fresh[i] as Fresh;
      const pod = pods[i];
      const e = enriched[i];
      const p: Prepared =
        pod && e ? prepareEvent(this.#prepareDeps, ctx, f.ev, pod, e, this.#names) : { kind: "dropped" };
      if (p.kind === "dropped") {
        batch.dropped++;
        // Not remembered as done: only an event that reached an object is a redelivery.
        this.#forget(batch, f);
      } else if (p.kind === "birth") {
        const cert = p.cert;
        const wait = new ObjectWait(batch, this.#observe);
        wait.add(p.type, p.observedAtMs, batch.ids[f.id]);
        this.writer.submit(
          `PodBirthCertificate/${cert.namespace}/${cert.name}`,
          () => cert,
          () => true,
          wait,
        );
      } else {
        let group = groups.get(p.key);
        if (!group) {
          group = {
            identity: { ...p.enriched, namespace: p.namespace, container: p.container, signal: p.signal },
            wait: new ObjectWait(batch, this.#observe),
            occurrences: [],
          };
          groups.set(p.key, group);
        }
        group.wait.add(p.type, p.observedAtMs, batch.ids[f.id]);
        group.occurrences.push(p.occurrence);
      }
    }
    return groups;
  }

  /**
   * One change per object: the batch's occurrences folded at once, one waiter per object.
   * What the ack waits for depends on the signal (ADR 0011): a counted occurrence (OOM,
   * crash loop, failure reasons) for the write that carries its count; a CPU throttling
   * update — state the next sample supersedes — only for the fold. An episode's opening
   * (it carries the episode count) and its resolution (no later sample would correct a
   * lost one) wait for their write like any counted occurrence — except the opening of an
   * episode the agent names: the episode counts once by its name, so its next sample recovers
   * a lost fold.
   */
  #submit(batch: PendingBatch, tag: DeliveryTag | undefined, groups: Map<string, Group>): undefined {
    for (const [key, group] of groups) {
      const { wait, occurrences } = group;
      this.writer.submit(
        key,
        () => new WhisperState(group.identity, this.#whisperSettings),
        (w: WhisperState) => wait.fold(w, tag, occurrences),
        wait,
      );
      if (wait.ledgerHeld) this.#o.metrics.redeliveriesDropped.inc(wait.events);
      if (STATE_SIGNALS.has(group.identity.signal) && occurrences.every(isSuperseded)) wait.ackFolded();
    }
    batch.sealed();
    return undefined;
  }

  /** End-to-end latency of a written (batch, object) pair's events. */
  #observe = (wait: ObjectWait): void => {
    if (!wait.observed) return;
    const now = this.#o.clock.now();
    for (const [type, list] of wait.observed) {
      for (const at of list) this.#o.metrics.endToEndLatency.observe({ type }, Math.max(0, now - at) / 1000);
    }
  };
}

/** The batch's name in the delivery ledger; undefined for agents without an instance id. */
function deliveryTag(ctx: BatchContext): DeliveryTag | undefined {
  if (!ctx.instance || ctx.seq === undefined || ctx.seq <= 0) return undefined;
  const agent = `${ctx.node}/${ctx.instance}`;
  return agent.length <= LEDGER_AGENT_MAX ? { agent, seq: ctx.seq } : undefined;
}

/** A batch's occurrences for one whisper, and its waiter for that object's write. */
interface Group {
  identity: WhisperIdentity;
  wait: ObjectWait;
  occurrences: Occurrence[];
}

/** An event this batch processes first; `id` indexes batch.ids (-1: the event has no id). */
interface Fresh {
  ev: WireEvent;
  id: number;
}

/**
 * A throttling sample the next one supersedes: not the resolution, and no count of its own — an
 * update, or any sample of a named episode (whose next sample counts the episode if this one's
 * fold is lost).
 */
function isSuperseded(o: Occurrence): boolean {
  return !o.resolved && (o.count === 0 || o.episode !== undefined);
}
