// The occurrence a prepared event hands to its whisper.
import type { Occurrence } from "../emit/whisper.ts";
import type { Evidence, PodIdentity } from "../types/index.ts";
import type { SignalFacts } from "./from-wire.ts";

/**
 * A prepared event's occurrence: the facts' evidence is read through it when the whisper
 * keeps it (the newest of the batch), not copied out when the occurrence is made.
 */
export class PreparedOccurrence implements Occurrence {
  hpa: string | undefined = undefined;
  readonly pod: PodIdentity;
  readonly observedAtMs: number;
  readonly count: number;
  readonly episode: number | undefined;
  readonly resolved: boolean;
  readonly demandSamples: readonly number[];
  #facts: SignalFacts;

  constructor(facts: SignalFacts, pod: PodIdentity, observedAtMs: number, episode: number | undefined) {
    this.#facts = facts;
    this.pod = pod;
    this.observedAtMs = observedAtMs;
    this.episode = episode;
    this.count = facts.count;
    this.resolved = facts.resolved;
    this.demandSamples = facts.demandSamples;
  }

  get evidence(): Evidence {
    return this.#facts.evidence;
  }
}
