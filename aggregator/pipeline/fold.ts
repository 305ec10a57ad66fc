// From a batch's events to its objects' pending writes: enrichment (cache hits synchronously,
// one promise per miss; HPA lookups once per workload and batch), preparation (prepare.ts),
// grouping by object, and one fold per object of all the batch's occurrences for it, tagged
// with the batch's delivery tag, so an object never holds part of a batch (docs/adr/0008).
// What each (batch, object) pair's ack waits for depends on the signal (docs/adr/0011).
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { BirthCertificate } from "../emit/birth.ts";
import { type DeliveryTag, LEDGER_AGENT_MAX } from "../emit/ledger.ts";
import {
  type Occurrence,
  type WhisperIdentity,
  type WhisperSettings,
  WhisperState,
} from "../emit/whisper.ts";
import type { CrWriter } from "../emit/writer.ts";
import { type Enricher, EnrichMemo } from "../enrich/index.ts";
import type { Journal } from "../journal/index.ts";
import { HPA_NOT_CACHED, type HpaLookup } from "../recommend/hpa.ts";
import { type BatchContext, type Enriched, type PodIdentity, STATE_SIGNALS } from "../types/index.ts";
import { journalRecord } from "./journal-entry.ts";
import type { PipelineMetrics } from "./metrics.ts";
import { ObjectWait, StateWait } from "./object-waits.ts";
import type { PendingBatch } from "./pending-batch.ts";
import { identifyPod, NameMemo, type PrepareDeps, Prepared, prepareEvent } from "./prepare.ts";
import type { Forget, Fresh } from "./types.ts";

export interface FoldDeps {
  enricher: Enricher;
  hpa: HpaLookup;
  writer: CrWriter;
  prepare: PrepareDeps;
  whisperSettings: WhisperSettings;
  metrics: PipelineMetrics;
  clock: Clock;
  log: Logger;
  forget: Forget;
}

export class BatchFolder {
  #d: FoldDeps;
  #names = new NameMemo();
  /** What the event being grouped became (prepare.ts): one record, overwritten per event. */
  #prepared = new Prepared();
  /** Per object, the shared waiter of the state folds since its last write. */
  #stateWaits = new Map<string, StateWait>();
  /** This replica's journal once started (ADR 0014): counted acks wait for it, not the object write. */
  journal: Journal | undefined;
  constructor(deps: FoldDeps) {
    this.#d = deps;
  }

  /**
   * Folds the batch's events into their objects' pending writes. Returns a promise only when
   * it had to wait (an enrichment or HPA lookup missed its cache).
   */
  fold(ctx: BatchContext, batch: PendingBatch, fresh: Fresh[]): Promise<void> | undefined {
    const tag = deliveryTag(ctx);
    if (ctx.instance && !tag) {
      this.#d.log.warn(
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
      const pod = identifyPod(this.#d.prepare, ctx, ev);
      pods[i] = pod;
      if (!pod || !ev.pod) continue;
      const hit = this.#d.enricher.enrichCached(ev.pod, memo);
      if (hit) enriched[i] = hit;
      else {
        const podRef = ev.pod;
        misses ??= [];
        misses.push(
          this.#d.enricher.enrich(podRef).then((e) => {
            enriched[i] = e;
          }),
        );
      }
    }
    this.#d.enricher.flush(memo);
    const prepare = (): Promise<void> | undefined => {
      const groups = this.#group(ctx, batch, fresh, pods, enriched);
      // The HPA of each throttling object: from the cache without a promise; a lookup only for a miss.
      let lookups: Promise<void>[] | undefined;
      for (let i = 0; i < groups.length; i++) {
        const g = groups[i] as Group;
        if (g.identity.signal !== "CPUThrottling") continue;
        const { namespace, workload } = g.identity;
        const known = this.#d.hpa.findCached(namespace, workload);
        if (known !== HPA_NOT_CACHED) setHpa(g, known);
        else {
          lookups ??= [];
          lookups.push(this.#d.hpa.find(namespace, workload).then((name) => setHpa(g, name)));
        }
      }
      if (!lookups) return this.#submit(batch, tag, groups);
      return Promise.all(lookups).then(() => this.#submit(batch, tag, groups));
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
  ): Group[] {
    // Looked up by key, handed on as a list (no Map iteration per group).
    const byKey = new Map<string, Group>();
    const groups: Group[] = [];
    const p = this.#prepared;
    for (let i = 0; i < fresh.length; i++) {
      const f = fresh[i] as Fresh;
      const pod = pods[i];
      const e = enriched[i];
      const kind = pod && e ? prepareEvent(this.#d.prepare, ctx, f.ev, pod, e, this.#names, p) : p.dropped();
      if (kind === "dropped") {
        batch.dropped++;
        // Not remembered as done: only an event that reached an object is a redelivery.
        this.#d.forget(batch, f);
      } else if (kind === "birth") {
        const cert = p.cert as BirthCertificate;
        const wait = new ObjectWait(batch, this.#observe);
        wait.add(p.type, p.observedAtMs, batch.ids[f.id]);
        this.#d.writer.submit(
          `PodBirthCertificate/${cert.namespace}/${cert.name}`,
          () => cert,
          () => true,
          wait,
        );
      } else {
        let group = byKey.get(p.key);
        if (!group) {
          group = {
            key: p.key,
            identity: {
              ...(p.enriched as Enriched),
              namespace: p.namespace,
              container: p.container,
              signal: p.signal,
            },
            wait: new ObjectWait(batch, this.#observe),
            occurrences: [],
          };
          byKey.set(p.key, group);
          groups.push(group);
        }
        group.wait.add(p.type, p.observedAtMs, batch.ids[f.id]);
        group.occurrences.push(p.occurrence as Occurrence);
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
  #submit(batch: PendingBatch, tag: DeliveryTag | undefined, groups: Group[]): undefined {
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i] as Group;
      const { key, wait, occurrences } = group;
      const foldAck = STATE_SIGNALS.has(group.identity.signal) && occurrences.every(isSuperseded);
      // Samples of named episodes count by the episode's name, not by the batch: their fold
      // needs no delivery tag (a resend folds state again and counts nothing twice), so they
      // share the object's one untagged bucket instead of holding one per batch until the write.
      const named = foldAck && occurrences.every(isNamed);
      const foldTag = named ? undefined : tag;
      // And their waiters: one per object between two writes, not one per batch.
      const shared = named ? this.#stateWait(key, batch) : undefined;
      this.#d.writer.submit(
        key,
        () => new WhisperState(group.identity, this.#d.whisperSettings),
        (w: WhisperState) => wait.fold(w, foldTag, occurrences),
        shared ?? wait,
      );
      if (shared && !wait.folded) {
        // Answered at once without the fold (a gone namespace, shedding): as the batch's own waiter.
        wait.resolve(shared.answeredAtOnce ?? "shed");
        shared.answeredAtOnce = undefined;
        continue;
      }
      if (wait.ledgerHeld) this.#d.metrics.redeliveriesDropped.inc(wait.events);
      if (foldAck) wait.ackFolded();
      else if (
        tag &&
        this.journal &&
        wait.folded &&
        !wait.ledgerHeld &&
        !wait.answered &&
        this.#d.writer.namespaceKnown(key, group.identity.namespace)
      ) {
        // A counted change in a namespace known to exist (ADR 0014): acked once this replica's
        // journal holds it durably. In a namespace this replica has seen no whisper of, it waits
        // for its whisper's first write, due at once, which is what finds a missing namespace
        // (the ack then says dropped).
        const mark = this.journal.nextMark();
        if (this.journal.hold(wait, journalRecord(key, group.identity, tag, occurrences, mark))) {
          wait.journal = this.journal;
          wait.marked(this.journal.name, mark);
        }
      }
      shared?.absorb(wait);
    }
    batch.sealed();
    return undefined;
  }

  /** The object's shared waiter for state folds until its next write. */
  #stateWait(key: string, batch: PendingBatch): StateWait {
    let wait = this.#stateWaits.get(key);
    if (!wait) {
      wait = new StateWait(batch.source, this.#observe, batch.onDropped, (done) => {
        if (this.#stateWaits.get(key) === done) this.#stateWaits.delete(key);
      });
      this.#stateWaits.set(key, wait);
    }
    return wait;
  }

  /** End-to-end latency of a written (batch, object) pair's events. */
  #observe = (wait: { observed: Map<string, number[]> | undefined }): void => {
    if (!wait.observed) return;
    const now = this.#d.clock.now();
    for (const [type, list] of wait.observed) {
      for (const at of list) this.#d.metrics.endToEndLatency.observe({ type }, Math.max(0, now - at) / 1000);
    }
  };
}

/** The batch's name in the delivery ledger; undefined for agents without an instance id. */
function deliveryTag(ctx: BatchContext): DeliveryTag | undefined {
  if (!ctx.instance || ctx.seq === undefined || ctx.seq <= 0) return undefined;
  const agent = `${ctx.node}/${ctx.instance}`;
  return agent.length <= LEDGER_AGENT_MAX ? { agent, seq: ctx.seq } : undefined;
}

function setHpa(g: Group, name: string | undefined): void {
  for (let i = 0; i < g.occurrences.length; i++) (g.occurrences[i] as Occurrence).hpa = name;
}

/** A batch's occurrences for one whisper, and its waiter for that object's write. */
interface Group {
  key: string;
  identity: WhisperIdentity;
  wait: ObjectWait;
  occurrences: Occurrence[];
}

/**
 * A throttling sample the next one supersedes: not the resolution, and no count of its own — an
 * update, or any sample of a named episode (whose next sample counts the episode if this one's
 * fold is lost).
 */
function isSuperseded(o: Occurrence): boolean {
  return !o.resolved && (o.count === 0 || o.episode !== undefined);
}

/** A throttling sample that names its episode (CpuThrottle.episode_opened_at_ms). */
function isNamed(o: Occurrence): boolean {
  return o.episode !== undefined;
}
