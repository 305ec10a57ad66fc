// One KernelWhisper's state in this replica: identity, counts, affected pods (affected-pods.ts),
// evidence, and what the object in the cluster already holds; whisper-body.ts renders it into
// the two server-side-apply bodies (spec once, status on every write).
//
// Counts across replicas: `baseline` is the count the object held when this replica last
// read or wrote it, `delta` the occurrences seen here since. Every status write carries
// baseline + delta and the resourceVersion last seen; when another replica wrote in
// between, the API server answers 409, the writer re-reads the object (adopt) and writes
// again: no increment is lost and none counted twice (docs/adr/0005-custom-resource-shape-names-and-counts.md).
//
// Batches from agents that name their process (Hello.instance_id) are tagged: the delta is
// kept per (agent, batch seq), the object's delivery ledger (status.deliveries, ledger.ts)
// says which batches its count already holds, and a batch found there — on first touch, or
// in the object re-read after a 409 — is not counted again (docs/adr/0008-exact-counts-across-restarts.md).
//
// CPU throttling episodes named by the agent are counted once by name (episodes.ts): the first
// sample of an episode the object (status.episodes) and this replica's pending write do not
// hold counts it, whichever sample that is (docs/adr/0011-ack-per-event-kind-and-a-cluster-wide-write-budget.md).

import {
  recommendCpu,
  recommendMemory,
  recommendMemoryPressure,
  recommendTermination,
} from "../recommend/index.ts";
import { severityOf } from "../recommend/severity.ts";
import { type Evidence, type Recommendation, SEVERITY_RANK, type Severity } from "../types/index.ts";
import { mergeObservedPods, parseMs, touchPod } from "./affected-pods.ts";
import { EpisodeRecord } from "./episodes.ts";
import { DeliveryLedger, type DeliveryTag } from "./ledger.ts";
import { whisperName } from "./names.ts";
import { PendingCounts } from "./pending.ts";

import type {
  AffectedPod,
  KObj,
  Occurrence,
  WhisperIdentity,
  WhisperSettings,
  WrittenDelta,
} from "./types.ts";
import { API_VERSION, renderStatus, specBody } from "./whisper-body.ts";

export type {
  AffectedPod,
  KObj,
  Occurrence,
  WhisperIdentity,
  WhisperSettings,
  WrittenDelta,
} from "./types.ts";
export { API_VERSION, GROUP, MESSAGE_MAX, VERSION, WHISPER_PLURAL } from "./whisper-body.ts";

/** Demand windows kept per whisper for the CPU recommendation. */
export const MAX_DEMAND_SAMPLES = 720;

export const emptyDelta = (): WrittenDelta => ({ total: 0, pods: new Map(), buckets: new Map() });

export class WhisperState {
  readonly kind = "KernelWhisper";
  readonly identity: WhisperIdentity;
  readonly name: string;
  readonly #settings: WhisperSettings;
  /** Count held by the object as last read or written. */
  baseline = 0;
  /** Batches the object's count holds, as last read or written. */
  ledger = new DeliveryLedger();
  /** Throttling episodes the object's count holds, as last read or written. */
  episodes = new EpisodeRecord();
  /** Occurrences seen here and not yet written, by delivery tag. */
  #pending = new PendingCounts();
  /**
   * Episodes the record held that were sampled again here since the last write: their
   * recency is not in the object yet, so a re-read (adopt) puts them back as most recently
   * seen — or another replica's write, evicting the least recently seen it knew of, would
   * let their next sample count them again.
   */
  #seenAgain = new EpisodeRecord();
  /**
   * Episodes this replica counted and wrote, or sampled again since, least recently seen
   * first (bounded like the record): its own memory of them. The object's record is shared —
   * every replica's write evicts the least recently seen of all replicas' episodes — and a
   * replica kept fresh by the watch takes each eviction in at once; this keeps the episodes
   * its own agents sample from being counted again for that (ADR 0015).
   */
  #known = new EpisodeRecord();
  /** The object's uid as last read: another uid is a new object, which counts none of ours. */
  #uid: string | undefined;
  firstSeenMs: number | undefined;
  lastSeenMs = 0;
  pods: AffectedPod[] = [];
  evidence: Evidence = {};
  severity: Severity = "info";
  active = true;
  transitionMs = 0;
  samples: number[] = [];
  hpa: string | undefined;
  node = "";
  /** Severity and activity as last written: an escalation writes at once. */
  writtenSeverity: Severity | undefined;
  writtenActive: boolean | undefined;

  constructor(identity: WhisperIdentity, settings: WhisperSettings) {
    this.identity = identity;
    this.name = whisperName(identity.workload, identity.container, identity.signal);
    this.#settings = settings;
  }

  get namespace(): string {
    return this.identity.namespace;
  }

  get count(): number {
    return this.baseline + this.delta;
  }

  /** Occurrences seen here and not yet written. */
  get delta(): number {
    return this.#pending.total;
  }

  /**
   * Folds in all occurrences one agent batch holds for this object, at once — or none of
   * them when the object (or the write pending here) already holds that batch.
   */
  recordBatch(
    tag: DeliveryTag | undefined,
    occurrences: readonly Occurrence[],
    replayed = false,
  ): { escalate: boolean; redelivered: boolean } {
    if (tag && (this.ledger.has(tag) || this.#pending.has(tag))) {
      return { escalate: false, redelivered: true };
    }
    let newest: Occurrence | undefined;
    for (const o of occurrences) if (this.#fold(o, tag, replayed)) newest = o;
    // The evidence (and the severity it gives) of the batch's newest occurrence is what stays:
    // read once per batch, not per occurrence (a throttle sample's evidence is built when read).
    // A batch replayed from a journal carries no evidence (ADR 0014): the whisper keeps its own.
    if (newest && !replayed) {
      this.evidence = newest.evidence;
      this.severity = severityOf(this.identity.signal, newest.evidence, this.#settings.thresholds);
    }
    // The oldest demand samples go once per batch, in place (the same last ones as per fold).
    const samples = this.samples;
    const excess = samples.length - MAX_DEMAND_SAMPLES;
    if (excess > 0) {
      for (let i = 0; i < MAX_DEMAND_SAMPLES; i++) samples[i] = samples[i + excess] as number;
      samples.length = MAX_DEMAND_SAMPLES;
    }
    return { escalate: this.escalated(), redelivered: false };
  }

  /** The batch was dropped on a re-read because the object already counted it. */
  wasRedelivered(tag: DeliveryTag | undefined): boolean {
    return tag !== undefined && this.#pending.wasDropped(tag);
  }

  /** True when `o` is the newest so far (its evidence is the whisper's). */
  #fold(o: Occurrence, tag: DeliveryTag | undefined, replayed: boolean): boolean {
    let count = o.count;
    const episode = o.episode;
    if (episode !== undefined) {
      if (this.episodes.has(episode) || this.#known.has(episode)) {
        this.episodes.add(episode); // seen again: kept longest (recorded again if evicted)
        this.#known.add(episode);
        this.#seenAgain.add(episode);
        count = 0;
      } else count = this.#pending.hasEpisode(episode) ? 0 : 1;
    }
    this.#pending.add(tag, o.pod.uid, count, count > 0 ? episode : undefined);
    if (this.firstSeenMs === undefined || o.observedAtMs < this.firstSeenMs)
      this.firstSeenMs = o.observedAtMs;
    const newest = o.observedAtMs >= this.lastSeenMs;
    if (newest) {
      this.lastSeenMs = o.observedAtMs;
      this.node = o.pod.node;
      const active = !o.resolved;
      if (active !== this.active || this.transitionMs === 0) this.transitionMs = o.observedAtMs;
      this.active = active;
    }
    if (!replayed && (o.hpa !== undefined || this.identity.signal === "CPUThrottling")) this.hpa = o.hpa;
    const samples = this.samples;
    for (let i = 0; i < o.demandSamples.length; i++) samples.push(o.demandSamples[i] as number);
    touchPod(this.pods, o, count, this.#settings.maxAffectedPods);
    return newest;
  }

  /** Severity went up, or a resolved whisper became active again, since the last write. */
  escalated(): boolean {
    if (this.writtenSeverity === undefined) return true;
    if (SEVERITY_RANK[this.severity] > SEVERITY_RANK[this.writtenSeverity]) return true;
    return this.active && this.writtenActive === false;
  }

  /**
   * Takes in the object as it is in the cluster (undefined: it does not exist): its count
   * becomes the baseline, its first seen and affected pods are merged with ours.
   */
  adopt(observed: KObj | undefined): { redelivered: number; malformed: number } {
    const status = (observed?.status ?? {}) as KObj;
    const uid = observed?.metadata?.uid;
    if (typeof uid === "string") {
      if (this.#uid !== undefined && uid !== this.#uid) this.#forgetKnown();
      this.#uid = uid;
    }
    this.baseline = typeof status.count === "number" ? status.count : 0;
    const { ledger, malformed: badDeliveries } = DeliveryLedger.parse(status.deliveries);
    this.ledger = ledger;
    const { record, malformed: badEpisodes } = EpisodeRecord.parse(status.episodes);
    for (const episode of this.#seenAgain) record.add(episode);
    this.episodes = record;
    const malformed = badDeliveries + badEpisodes;
    // Batches and episodes the object already counts (another replica, or our own write whose
    // response was lost) are dropped here: the fresh counts hold them.
    const held = this.#pending.dropHeldBy(ledger, record);
    for (const [uid, n] of held.pods) {
      const pod = this.pods.find((p) => p.uid === uid);
      if (pod) pod.delta -= n;
    }
    const redelivered = held.events;
    if (redelivered > 0) this.#settings.onRedelivered?.(redelivered);
    const first = parseMs(status.firstSeen);
    if (first !== undefined && (this.firstSeenMs === undefined || first < this.firstSeenMs))
      this.firstSeenMs = first;
    const last = parseMs(status.lastSeen);
    if (last !== undefined && last > this.lastSeenMs) {
      this.lastSeenMs = last;
      if (typeof status.node === "string") this.node = status.node;
    }
    if (this.writtenSeverity === undefined && observed && typeof status.severity === "string") {
      this.writtenSeverity = status.severity as Severity;
      const activeCond = Array.isArray(status.conditions)
        ? (status.conditions as KObj[]).find((c) => c.type === "Active")
        : undefined;
      this.writtenActive = activeCond ? activeCond.status === "True" : undefined;
    }
    if (Array.isArray(status.affectedPods)) {
      mergeObservedPods(this.pods, status.affectedPods as KObj[], this.#settings.maxAffectedPods);
    }
    return { redelivered, malformed };
  }

  /**
   * The written deltas are now part of the object's counts (and their batches of its ledger);
   * `uid`: the object's, as the write's answer gave it.
   */
  committed(written: WrittenDelta, uid?: string): void {
    if (uid !== undefined) this.#uid = uid;
    this.#seenAgain = new EpisodeRecord(); // the written record holds their recency
    this.baseline += written.total;
    this.#pending.commit(written.buckets, this.ledger, this.episodes);
    for (const w of written.buckets.values()) {
      for (const episode of w.episodes ?? []) if (this.episodes.has(episode)) this.#known.add(episode);
    }
    for (const p of this.pods) {
      const d = written.pods.get(p.uid) ?? 0;
      p.baseline += d;
      p.delta -= d;
    }
    this.writtenSeverity = this.severity;
    this.writtenActive = this.active;
  }

  /** The object was deleted (retention, or by hand): start again from our own numbers. */
  forgetCluster(): void {
    this.#forgetKnown();
    this.#uid = undefined;
    this.baseline = 0;
    this.ledger = new DeliveryLedger();
    this.episodes = new EpisodeRecord();
    for (const p of this.pods) p.baseline = 0;
  }

  #forgetKnown(): void {
    this.#seenAgain = new EpisodeRecord();
    this.#known = new EpisodeRecord();
  }

  recommendation(): Recommendation {
    const e = this.evidence;
    if (this.identity.signal === "CPUThrottling") {
      const t = e.throttling;
      return recommendCpu({
        samples: this.samples,
        // Limited by the pod's quota alone (no container limit): that quota is the limit.
        limitCores: t?.limitCores || (t?.limitedBy === "pod" ? t.podLimitCores : 0) || 0,
        hpa: this.hpa,
        nodeCpus: t?.nodeCpus,
        method: t?.demandMethod,
        limitedBy: t?.limitedBy,
        podLimitCores: t?.podLimitCores,
      });
    }
    if (this.identity.signal === "MemoryPressure" && e.memory) return recommendMemoryPressure(e.memory);
    if (this.identity.signal === "OOMKilled" && e.oom) return recommendMemory(e.oom, this.count);
    if (e.termination) return recommendTermination(e.termination);
    return { action: "Investigate", summary: `${this.count} occurrences. See the evidence.` };
  }

  specBody(): KObj {
    return specBody(this);
  }

  /** The status apply body and the delta it carries. */
  statusBody(resourceVersion?: string): { body: KObj; delta: WrittenDelta } {
    const status = renderStatus(this);
    const deliveries = this.ledger.with(this.#pending.tags()).render();
    if (deliveries.length > 0) status.deliveries = deliveries;
    const episodes = this.episodes.with(this.#pending.episodes()).render();
    if (episodes !== "") status.episodes = episodes;
    const metadata: KObj = { name: this.name, namespace: this.namespace };
    if (resourceVersion) metadata.resourceVersion = resourceVersion;
    const delta: WrittenDelta = {
      total: this.delta,
      pods: new Map(this.pods.map((p) => [p.uid, p.delta])),
      buckets: this.#pending.snapshot(),
    };
    return { body: { apiVersion: API_VERSION, kind: this.kind, metadata, status }, delta };
  }
}
