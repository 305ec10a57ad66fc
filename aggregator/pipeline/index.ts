// The batch pipeline: redelivery dedup → enrichment → signal → CR writer. A batch's
// promise resolves when every event is reflected in the cluster (its object written) or
// deliberately dropped; the stream server acks the batch only then.
//
// Redelivery is caught in two layers, the object's delivery ledger (emit/ledger.ts) and this
// replica's event-id dedup (redelivery.ts, which tells the story).
//
// This file holds the batch's way in (the id dedup first), the journal's start and the stop; the
// stages a batch then goes through are bind.ts (node binding, --verify-pods) and fold.ts
// (enrichment, preparation in prepare.ts, one fold per object, what each ack waits for);
// pending-batch.ts is what a batch keeps while it waits, object-waits.ts what each object's
// write answers; journal-entry.ts is what the journal keeps and how a replayed entry folds back.
import type { Clock } from "../../shared/clock.ts";
import { kubeHttpOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { TokenBucket } from "../../shared/token-bucket.ts";
import { kubeCrClient } from "../emit/kube.ts";
import { kubeEventSink, PodEvents } from "../emit/pod-events.ts";
import type { WhisperSettings } from "../emit/whisper.ts";
import { WhisperWatch } from "../emit/whisper-watch.ts";
import { CrWriter, WriterStoppedError } from "../emit/writer.ts";
import { Enricher, kubeLookupSource } from "../enrich/index.ts";
import { PodBinder } from "../enrich/pods.ts";
import { kubePodSource } from "../enrich/source.ts";
import { Journal, type JournalStore } from "../journal/index.ts";
import { HpaLookup, kubeHpaSource } from "../recommend/hpa.ts";
import type { BatchContext, BatchHandler } from "../types/index.ts";
import { bindBatch } from "./bind.ts";
import { BatchFolder } from "./fold.ts";
import { replayEntry } from "./journal-entry.ts";
import { PendingBatch } from "./pending-batch.ts";
import type { PrepareDeps } from "./prepare.ts";
import { RedeliveryDedup } from "./redelivery.ts";
import type { Fresh, PipelineOptions } from "./types.ts";

export { WriterStoppedError } from "../emit/writer.ts";
export { createPipelineMetrics, type PipelineMetrics } from "./metrics.ts";
export type { PipelineOptions, PipelineSettings } from "./types.ts";
export type { BatchContext, BatchHandler };

/**
 * How long a pod seen alive vouches for events about it after it is gone (a crash loop, then
 * deletion; an agent resending after an outage): docs/security.md.
 */
export const POD_SEEN_TTL_MS = 3_600_000;

export class BatchPipeline implements BatchHandler {
  readonly writer: CrWriter;
  /** The write token bucket (its rate is this replica's share of the cluster budget). */
  readonly bucket: TokenBucket;
  readonly podEvents: PodEvents;
  #o: PipelineOptions;
  #log: Logger;
  /** Which events this replica already wrote or is writing (redelivery.ts). */
  #dedup: RedeliveryDedup;
  #folder: BatchFolder;
  /** What a whisper created here starts with (thresholds, pods kept). */
  #whisperSettings: WhisperSettings;
  /** Batches still being enriched (not yet handed to the writer). */
  #preparing = new Set<Promise<void>>();
  #stopping = false;
  #journal: Journal | undefined;
  /** Node binding against the API server's pods (settings.verifyPods); undefined: trust the frame handler's check. */
  #binder: PodBinder | undefined;
  /** Keeps the writer's copies of whispers fresh (other replicas' writes); undefined with a test client. */
  #whisperWatch: WhisperWatch | undefined;

  constructor(options: PipelineOptions) {
    this.#o = options;
    const { settings: s, clock, metrics, kubeConfig } = options;
    this.#log = options.log.child({ component: "pipeline" });
    this.#dedup = new RedeliveryDedup({
      size: s.redeliveryCacheSize,
      bytes: s.redeliveryCacheBytes,
      metrics,
    });
    const enricher = new Enricher({
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
    const hpa = new HpaLookup({
      source: options.hpa ?? kubeHpaSource(kubeConfig, options.requestTimeoutMs),
      log: this.#log,
      ttlMs: s.ownerCacheTtl,
      maxNamespaces: Math.max(100, Math.min(s.ownerCacheSize, 10_000)),
    });
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
    if (options.whisperWatch ?? options.client === undefined) {
      this.#whisperWatch = new WhisperWatch({
        http: kubeHttpOf(kubeConfig),
        writer: this.writer,
        clock,
        log: this.#log,
        metrics,
      });
    }
    const prepare: PrepareDeps = {
      enricher,
      hpa,
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
    this.#folder = new BatchFolder({
      enricher,
      hpa,
      writer: this.writer,
      prepare,
      whisperSettings: this.#whisperSettings,
      metrics,
      clock,
      log: this.#log,
      forget: this.#dedup.forget,
    });
  }

  start(): void {
    this.writer.start();
    this.#whisperWatch?.start();
  }

  /**
   * Starts this replica's write-ahead journal (docs/adr/0014): reads and replays its own
   * journal, then holds every counted change folded here until its whisper is written, and
   * acks its batch once a journal write holding it landed; replays orphaned journals (their
   * replica's Lease not `alive`) every `orphanCheckMs`. Without it, counted acks wait for their
   * whisper writes.
   */
  startJournal(deps: {
    store: JournalStore;
    name: string;
    lease: string;
    alive: (lease: string) => boolean;
    orphanCheckMs: number;
  }): Journal {
    const { clock, metrics, settings: s } = this.#o;
    const journal: Journal = new Journal({
      ...deps,
      intervalMs: s.journalInterval,
      maxBytes: s.journalMaxBytes,
      clock,
      log: this.#o.log.child({ component: "journal" }),
      metrics,
      acquire: async () => {
        const started = clock.monotonic();
        await this.writer.journalToken();
        metrics.writeTokenWait.observe({ lane: "journal" }, (clock.monotonic() - started) / 1000);
      },
      replay: (record, waiter, origin) =>
        replayEntry(
          { writer: this.writer, whisperSettings: this.#whisperSettings, journal },
          record,
          waiter,
          origin,
        ),
    });
    this.#journal = journal;
    this.#folder.journal = journal;
    void journal.start();
    return journal;
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
    this.#whisperWatch?.stop();
    // What the flush wrote left the journal; what it did not stays there for replay.
    await this.#journal?.stop();
    await this.podEvents.drain();
  }

  handleBatch(ctx: BatchContext, events: WireEvent[]): Promise<{ dropped: number }> {
    if (this.#stopping) return Promise.reject(new WriterStoppedError());
    const { metrics } = this.#o;
    const batch = new PendingBatch(this.#dedup.settled, ctx.node);
    batch.onRedelivered = (n) => metrics.redeliveriesDropped.inc(n);
    batch.onDropped = (reason, n) => metrics.eventsDropped.inc({ reason }, n);
    const fresh = this.#dedup.fresh(batch, events);
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

  /**
   * Binds the batch's pods to their node when --verify-pods is on (bind.ts), then folds its
   * events into their objects' pending writes (fold.ts). Returns a promise only when it had to wait.
   */
  #apply(ctx: BatchContext, batch: PendingBatch, fresh: Fresh[]): Promise<void> | undefined {
    const fold = (kept: Fresh[]): Promise<void> | undefined => this.#folder.fold(ctx, batch, kept);
    if (!this.#binder) return fold(fresh);
    const { metrics } = this.#o;
    return bindBatch(
      { binder: this.#binder, metrics, log: this.#log, forget: this.#dedup.forget },
      ctx,
      batch,
      fresh,
      fold,
    );
  }
}
