// One wire event, prepared for the writer: enriched (owner lookups awaited), turned into a
// whisper occurrence under its object key, or a birth certificate, or dropped with a reason.
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { WireEvent } from "../../shared/proto.ts";
import { BirthCertificate } from "../emit/birth.ts";
import { whisperName } from "../emit/names.ts";
import { type Occurrence, WhisperState } from "../emit/whisper.ts";
import type { Enricher } from "../enrich/index.ts";
import type { HpaLookup } from "../recommend/hpa.ts";
import { birthFacts, POD_LEVEL_CONTAINER, podIdentity, signalFacts } from "./from-wire.ts";
import type { BatchContext, PipelineSettings } from "./index.ts";

export interface PrepareDeps {
  enricher: Enricher;
  hpa: HpaLookup;
  log: Logger;
  clock: Clock;
  settings: PipelineSettings;
  /** Events a whisper found already counted by its object (delivery ledger). */
  onRedelivered: (events: number) => void;
}

export type Prepared =
  | { kind: "dropped" }
  | { kind: "birth"; cert: BirthCertificate; type: string; observedAtMs: number }
  | {
      kind: "whisper";
      key: string;
      create: () => WhisperState;
      occurrence: Occurrence;
      type: string;
      observedAtMs: number;
    };

export async function prepareEvent(
  d: PrepareDeps,
  ctx: Pick<BatchContext, "node" | "connectionId">,
  ev: WireEvent,
): Promise<Prepared> {
  const pod = podIdentity(ev.pod, ctx.node);
  if (!pod || !ev.pod) {
    d.log.warn(
      { node: ctx.node, connectionId: ctx.connectionId, id: ev.id },
      "event without pod identity (uid, namespace, name) dropped; the agent sent an incomplete event",
    );
    return { kind: "dropped" };
  }
  const enriched = await d.enricher.enrich(ev.pod);
  const observedAtMs = Number(ev.observedAtMs ?? 0);
  if (ev.birth) {
    const facts = birthFacts(ev, pod, enriched);
    if (!facts) return { kind: "dropped" };
    return { kind: "birth", cert: new BirthCertificate(facts), type: "birth", observedAtMs };
  }
  const facts = signalFacts(ev);
  if (!facts) {
    d.log.warn(
      { node: ctx.node, id: ev.id },
      "event of unknown kind dropped; is the agent newer than the aggregator?",
    );
    return { kind: "dropped" };
  }
  const type = ev.failure ? "failure" : ev.oom ? "oom" : "throttle";
  const container = ev.container || POD_LEVEL_CONTAINER;
  const identity = { ...enriched, namespace: pod.namespace, container, signal: facts.signal };
  const hpa =
    facts.signal === "CPUThrottling" ? await d.hpa.find(pod.namespace, enriched.workload) : undefined;
  const s = d.settings;
  const name = whisperName(identity.workload, container, facts.signal);
  return {
    kind: "whisper",
    key: `KernelWhisper/${pod.namespace}/${name}`,
    create: () =>
      new WhisperState(identity, {
        thresholds: { warning: s.throttleWarning, critical: s.throttleCritical },
        maxAffectedPods: s.maxAffectedPods,
        onRedelivered: (n) => d.onRedelivered(n),
      }),
    occurrence: {
      pod,
      observedAtMs: observedAtMs || d.clock.now(),
      count: facts.count,
      evidence: facts.evidence,
      resolved: facts.resolved,
      demandSamples: facts.demandSamples,
      hpa,
    },
    type,
    observedAtMs,
  };
}
