// One KernelWhisper's state in this replica: identity, counts, affected pods (affected-pods.ts),
// evidence, and what the object in the cluster already holds; whisper-body.ts renders it into
// the two server-side-apply bodies (spec once, status on every write), with the
// recommendation recommend/recommendation.ts gives for its signal and evidence.
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
// sample of an episode the object (status.episodes), this replica's memory of them
// (episode-memory.ts) and its pending write do not hold counts it, whichever sample that is
// (docs/adr/0011-ack-per-event-kind-and-a-cluster-wide-write-budget.md).

import { recommendationOf } from "../recommend/recommendation.ts";
import { severityOf } from "../recommend/severity.ts";
import { type Evidence, type Recommendation, SEVERITY_RANK, type Severity } from "../types/index.ts";
import { mergeObservedPods, parseMs, touchPod } from "./affected-pods.ts";
import { EpisodeMemory } from "./episode-memory.ts";
import { EpisodeRecord } from "./episodes.ts";
import { holdsMark, type JournalMark, type JournalMarks, parseMarks, renderMarks } from "./journal-marks.ts";
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
  /** Per replica journal, the highest mark of a change the object's count holds (journal-marks.ts). */
  journals: JournalMarks = new Map();
  /** Occurrences seen here and not yet written, by delivery tag. */
  #pending = new PendingCounts();
  /** This replica's own memory of the episodes counted (episode-memory.ts). */
  #memory = new EpisodeMemory();
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
   * them when the object (or the write pending here) already holds that batch. A change
   * replayed from a journal (`replayOf`: its mark there) is not folded either when the
   * object's marks hold it; `own`: its mark in this replica's journal.
   */
  recordBatch(
    tag: DeliveryTag | undefined,
    occurrences: readonly Occurrence[],
    replayed = false,
    marks?: { replayOf?: JournalMark | undefined; own?: JournalMark | undefined },
  ): { escalate: boolean; redelivered: boolean } {
    if (
      tag &&
      (this.ledger.has(tag) || this.#pending.has(tag) || holdsMark(this.journals, marks?.replayOf))
    ) {
      return { escalate: false, redelivered: true };
    }
    let newest: Occurrence | undefined;
    for (const o of occurrences) if (this.#fold(o, tag, replayed)) newest = o;
    if (tag && marks) this.#pending.mark(tag, marks);
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

  /** The batch's change under `tag` is held in this replica's journal with `mark`. */
  markJournaled(tag: DeliveryTag, mark: JournalMark): void {
    this.#pending.mark(tag, { own: mark });
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
      const held = this.#memory.counted(this.episodes, episode) || this.#pending.hasEpisode(episode);
      count = held ? 0 : 1;
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
    this.#memory.read(observed?.metadata?.uid);
    this.baseline = typeof status.count === "number" ? status.count : 0;
    const { ledger, malformed: badDeliveries } = DeliveryLedger.parse(status.deliveries);
    this.ledger = ledger;
    const { record, malformed: badEpisodes } = EpisodeRecord.parse(status.episodes);
    this.#memory.restore(record);
    this.episodes = record;
    const { marks, malformed: badMarks } = parseMarks(status.journals);
    this.journals = marks;
    const malformed = badDeliveries + badEpisodes + badMarks;
    // Batches, episodes and replayed changes the object already counts (another replica, or
    // our own write whose response was lost) are dropped here: the fresh counts hold them.
    const held = this.#pending.dropHeldBy(ledger, record, marks);
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
    this.baseline += written.total;
    this.#pending.commit(written.buckets, this.ledger, this.episodes, this.journals);
    this.#memory.written(this.episodes, written.buckets.values(), uid);
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
    this.#memory.deleted();
    this.baseline = 0;
    this.ledger = new DeliveryLedger();
    this.journals = new Map();
    this.episodes = new EpisodeRecord();
    for (const p of this.pods) p.baseline = 0;
  }

  /** What to do about it (recommend/recommendation.ts). */
  recommendation(): Recommendation {
    const { identity, evidence, samples, hpa, count } = this;
    return recommendationOf({ signal: identity.signal, evidence, samples, hpa, count });
  }

  specBody(): KObj {
    return specBody(this);
  }

  /** The status apply body and the delta it carries. */
  statusBody(resourceVersion?: string): { body: KObj; delta: WrittenDelta } {
    const status = renderStatus(this);
    const deliveries = this.ledger.with(this.#pending.tags()).render();
    if (deliveries.length > 0) status.deliveries = deliveries;
    const journals = renderMarks(this.journals, this.#pending.marks());
    if (journals) status.journals = journals;
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
