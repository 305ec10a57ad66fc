// The batch pipeline: redelivery dedup → enrichment → signal → CR writer. A batch's
// promise resolves when every event is reflected in the cluster (its object written) or
// deliberately dropped; the stream server acks the batch only then.
//
// Redelivery: an event id enters the bounded LRU only after its write succeeded, so an
// event whose write never happened is not mistaken for a redelivery; an id already being
// processed (the agent resent the batch meanwhile) waits for that processing and is then
// dropped as a redelivery.
import type { KubeConfig } from "@kubernetes/client-node";
import { LRUCache } from "lru-cache";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { BirthCertificate } from "../emit/birth.ts";
import { type CrClient, kubeCrClient } from "../emit/kube.ts";
import { whisperName } from "../emit/names.ts";
import { type EventSink, kubeEventSink, PodEvents } from "../emit/pod-events.ts";
import { TokenBucket } from "../emit/token-bucket.ts";
import { WhisperState } from "../emit/whisper.ts";
import { CrWriter, type WriteOutcome, WriterStoppedError } from "../emit/writer.ts";
import { Enricher, kubeLookupSource, type LookupSource } from "../enrich/index.ts";
import type { AggregatorOptions } from "../options.ts";
import { HpaLookup, type HpaSource, kubeHpaSource } from "../recommend/hpa.ts";
import { birthFacts, POD_LEVEL_CONTAINER, podIdentity, signalFacts } from "./from-wire.ts";
import type { PipelineMetrics } from "./metrics.ts";

export { WriterStoppedError } from "../emit/writer.ts";
export { createPipelineMetrics, type PipelineMetrics } from "./metrics.ts";

export interface BatchContext {
  node: string;
  connectionId: string;
  agentVersion: string;
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

type Outcome = WriteOutcome | "dropped";

export class BatchPipeline implements BatchHandler {
  readonly writer: CrWriter;
  readonly podEvents: PodEvents;
  #o: PipelineOptions;
  #log: Logger;
  #enricher: Enricher;
  #hpa: HpaLookup;
  #done: LRUCache<string, true>;
  #inflight = new Map<string, Promise<Outcome>>();
  #stopping = false;

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

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.writer.stop(this.#o.stopDeadlineMs ?? 10_000);
    await this.podEvents.drain();
  }

  async handleBatch(ctx: BatchContext, events: WireEvent[]): Promise<{ dropped: number }> {
    if (this.#stopping) throw new WriterStoppedError();
    const results = await Promise.allSettled(events.map((ev) => this.#one(ctx, ev)));
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

  async #one(ctx: BatchContext, ev: WireEvent): Promise<Outcome> {
    const id = ev.id ?? "";
    if (id && this.#done.has(id)) {
      this.#o.metrics.redeliveriesDropped.inc();
      return "dropped";
    }
    const running = id ? this.#inflight.get(id) : undefined;
    if (running) {
      await running;
      this.#o.metrics.redeliveriesDropped.inc();
      return "dropped";
    }
    const work = this.#process(ctx, ev);
    if (!id) return work;
    this.#inflight.set(id, work);
    try {
      const outcome = await work;
      if (outcome !== "dropped") this.#done.set(id, true);
      return outcome;
    } finally {
      this.#inflight.delete(id);
    }
  }

  async #process(ctx: BatchContext, ev: WireEvent): Promise<Outcome> {
    const pod = podIdentity(ev.pod, ctx.node);
    if (!pod || !ev.pod) {
      this.#log.warn(
        { node: ctx.node, connectionId: ctx.connectionId, id: ev.id },
        "event without pod identity (uid, namespace, name) dropped; the agent sent an incomplete event",
      );
      return "dropped";
    }
    const enriched = await this.#enricher.enrich(ev.pod);
    const observedAtMs = Number(ev.observedAtMs ?? 0);
    let outcome: WriteOutcome;
    let type: string;
    if (ev.birth) {
      const facts = birthFacts(ev, pod, enriched);
      if (!facts) return "dropped";
      const cert = new BirthCertificate(facts);
      type = "birth";
      outcome = await this.writer.submit(
        `PodBirthCertificate/${cert.namespace}/${cert.name}`,
        () => cert,
        () => true,
      );
    } else {
      const facts = signalFacts(ev);
      if (!facts) {
        this.#log.warn(
          { node: ctx.node, id: ev.id },
          "event of unknown kind dropped; is the agent newer than the aggregator?",
        );
        return "dropped";
      }
      type = ev.failure ? "failure" : ev.oom ? "oom" : "throttle";
      const container = ev.container || POD_LEVEL_CONTAINER;
      const identity = { ...enriched, namespace: pod.namespace, container, signal: facts.signal };
      const hpa =
        facts.signal === "CPUThrottling" ? await this.#hpa.find(pod.namespace, enriched.workload) : undefined;
      const s = this.#o.settings;
      const name = whisperName(identity.workload, container, facts.signal);
      outcome = await this.writer.submit(
        `KernelWhisper/${pod.namespace}/${name}`,
        () =>
          new WhisperState(identity, {
            thresholds: { warning: s.throttleWarning, critical: s.throttleCritical },
            maxAffectedPods: s.maxAffectedPods,
          }),
        (w) =>
          w.record({
            pod,
            observedAtMs: observedAtMs || this.#o.clock.now(),
            count: facts.count,
            evidence: facts.evidence,
            resolved: facts.resolved,
            demandSamples: facts.demandSamples,
            hpa,
          }),
      );
    }
    if (outcome === "written" && observedAtMs > 0) {
      this.#o.metrics.endToEndLatency.observe(
        { type },
        Math.max(0, this.#o.clock.now() - observedAtMs) / 1000,
      );
    }
    return outcome;
  }
}

export function createAggregatorPipeline(options: PipelineOptions): BatchPipeline {
  return new BatchPipeline(options);
}
