// One wire event, prepared for the writer once its enrichment is known: a whisper
// occurrence under its object key, or a birth certificate, or dropped with a reason.
// Synchronous on purpose: the pipeline resolves enrichment (cache hits without a promise)
// and HPA lookups per batch, then prepares every event without allocating per-event promises.
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { eventType, type WireEvent } from "../../shared/proto.ts";
import { BirthCertificate } from "../emit/birth.ts";
import { episodeKey } from "../emit/episodes.ts";
import { whisperName } from "../emit/names.ts";
import type { Occurrence, WhisperIdentity } from "../emit/whisper.ts";
import type { Enricher } from "../enrich/index.ts";
import type { HpaLookup } from "../recommend/hpa.ts";
import type { BatchContext, Enriched, PodIdentity } from "../types/index.ts";
import { birthFacts, POD_LEVEL_CONTAINER, podIdentity, signalFacts } from "./from-wire.ts";
import { PreparedOccurrence } from "./occurrence.ts";
import { episodeOpenedAt } from "./throttle-facts.ts";
import type { PipelineSettings } from "./types.ts";

export interface PrepareDeps {
  enricher: Enricher;
  hpa: HpaLookup;
  log: Logger;
  clock: Clock;
  settings: PipelineSettings;
  /** Events a whisper found already counted by its object (delivery ledger). */
  onRedelivered: (events: number) => void;
}

/**
 * What one event became, for the caller to read at once: a whisper occurrence under its object
 * key, a birth certificate, or nothing (dropped). One per pipeline, overwritten by the next
 * event (a batch prepares a thousand events: no record per event).
 */
export class Prepared {
  kind: "dropped" | "birth" | "whisper" = "dropped";
  /** birth: the certificate. */
  cert: BirthCertificate | undefined = undefined;
  /** whisper: the writer's key. */
  key = "";
  /** whisper: with namespace, container and signal, the whisper's identity (built once per object). */
  enriched: Enriched | undefined = undefined;
  namespace = "";
  container = "";
  signal: WhisperIdentity["signal"] = "CPUThrottling";
  /** whisper: `hpa` is filled in by the caller for CPUThrottling (one lookup per object and batch). */
  occurrence: Occurrence | undefined = undefined;
  /** Both: the event's type label and node-side time (0: not said). */
  type = "";
  observedAtMs = 0;

  dropped(): "dropped" {
    this.kind = "dropped";
    this.cert = undefined;
    this.enriched = undefined;
    this.occurrence = undefined;
    return "dropped";
  }
}

/** The event's pod, or undefined (warned) when the agent sent an incomplete event. */
export function identifyPod(
  d: Pick<PrepareDeps, "log">,
  ctx: Pick<BatchContext, "node" | "connectionId">,
  ev: WireEvent,
): PodIdentity | undefined {
  const pod = ev.pod ? podIdentity(ev.pod, ctx.node) : undefined;
  if (!pod) {
    d.log.warn(
      { node: ctx.node, connectionId: ctx.connectionId, id: ev.id },
      "event without pod identity (uid, namespace, name) dropped; the agent sent an incomplete event",
    );
  }
  return pod;
}

/**
 * The writer's key of a whisper, `KernelWhisper/<namespace>/<name>`. whisperName is pure but
 * not cheap (cleaning, maybe a hash), so keys are remembered per identity (bounded: cleared
 * when full, which only costs recomputing them).
 */
export class NameMemo {
  /** namespace → workload kind → workload name → container → signal → key: lookups without building a string per event. */
  #keys = new Map<string, Map<string, Map<string, Map<string, Map<string, string>>>>>();
  #size = 0;
  #max: number;

  constructor(max = 10_000) {
    this.#max = max;
  }

  key(
    namespace: string,
    workload: Enriched["workload"],
    container: string,
    signal: WhisperIdentity["signal"],
  ): string {
    const bySignal = this.#keys.get(namespace)?.get(workload.kind)?.get(workload.name)?.get(container);
    const known = bySignal?.get(signal);
    if (known !== undefined) return known;
    const key = `KernelWhisper/${namespace}/${whisperName(workload, container, signal)}`;
    if (this.#size >= this.#max) {
      this.#keys.clear();
      this.#size = 0;
    }
    child(child(child(child(this.#keys, namespace), workload.kind), workload.name), container).set(
      signal,
      key,
    );
    this.#size++;
    return key;
  }
}

function child<V>(m: Map<string, Map<string, V>>, k: string): Map<string, V> {
  let c = m.get(k);
  if (!c) {
    c = new Map();
    m.set(k, c);
  }
  return c;
}

/** Prepares one event into `out` (read before the next event); returns what it became. */
export function prepareEvent(
  d: PrepareDeps,
  ctx: Pick<BatchContext, "node">,
  ev: WireEvent,
  pod: PodIdentity,
  enriched: Enriched,
  names: NameMemo,
  out: Prepared,
): Prepared["kind"] {
  const observedAtMs = Number(ev.observedAtMs ?? 0);
  if (ev.birth) {
    const facts = birthFacts(ev, pod, enriched);
    if (!facts) return out.dropped();
    out.kind = "birth";
    out.cert = new BirthCertificate(facts);
    out.enriched = undefined;
    out.occurrence = undefined;
    out.type = "birth";
    out.observedAtMs = observedAtMs;
    return "birth";
  }
  const facts = signalFacts(ev);
  if (!facts) {
    d.log.warn(
      { node: ctx.node, id: ev.id },
      "event of unknown kind dropped; is the agent newer than the aggregator?",
    );
    return out.dropped();
  }
  const container = ev.container || POD_LEVEL_CONTAINER;
  // An OOM kill names the MemoryPressure whisper that warned of it (same workload and container).
  // (Only an OOM kill's evidence has one: a throttle sample's evidence is not built here.)
  const precededBy = facts.signal === "OOMKilled" ? facts.evidence.oom?.precededBy : undefined;
  if (precededBy) precededBy.whisper = whisperName(enriched.workload, container, "MemoryPressure");
  out.kind = "whisper";
  out.cert = undefined;
  out.key = names.key(pod.namespace, enriched.workload, container, facts.signal);
  out.enriched = enriched;
  out.namespace = pod.namespace;
  out.container = container;
  out.signal = facts.signal;
  out.occurrence = new PreparedOccurrence(
    facts,
    pod,
    observedAtMs || d.clock.now(),
    throttleEpisode(ev, pod, container),
  );
  out.type = eventType(ev);
  out.observedAtMs = observedAtMs;
  return "whisper";
}

/** The throttling episode a sample names (ADR 0011); undefined for other events and older agents. */
function throttleEpisode(ev: WireEvent, pod: PodIdentity, container: string): number | undefined {
  const openedAtMs = episodeOpenedAt(ev);
  return openedAtMs === undefined ? undefined : episodeKey(pod.uid, container, openedAtMs);
}
