// What the agent does with each pod change: keep it in scope (namespace rules, opt-out
// annotation), then let the failure reporter and the birth recorder look at it. A pod
// entering scope is treated as seen for the first time; one leaving it, as gone.
//
// Wiring (agent main):
//   const reporter = new PodReporter({ scope, failures, births });
//   const watch = new PodWatch({ ..., onPod: reporter.onPod });
//   scope's onChange: () => reporter.rescan(watch.pods())
import type { BirthRecorder } from "./births.ts";
import type { PodFacts } from "./facts.ts";
import type { FailureReporter } from "./failures.ts";
import type { NamespaceScope } from "./scope.ts";

export interface PodReporterOptions {
  scope: Pick<NamespaceScope, "includes">;
  failures: Pick<FailureReporter, "observe">;
  births?: Pick<BirthRecorder, "observe">;
}

export class PodReporter {
  #o: PodReporterOptions;
  #inScope = new Set<string>();

  constructor(options: PodReporterOptions) {
    this.#o = options;
  }

  /** PodWatch's onPod. */
  readonly onPod = (prev: PodFacts | undefined, next: PodFacts | undefined): void => {
    const uid = (next ?? prev)?.uid;
    if (uid === undefined) return;
    const was = this.#inScope.has(uid);
    const now = next !== undefined && this.#o.scope.includes(next);
    if (now) this.#inScope.add(uid);
    else this.#inScope.delete(uid);
    if (!was && !now) return;
    this.#observe(was ? prev : undefined, now ? next : undefined);
  };

  /** After a scope change: pods that entered scope are new, those that left are gone. */
  rescan(pods: Iterable<PodFacts>): void {
    for (const pod of pods) {
      const was = this.#inScope.has(pod.uid);
      const now = this.#o.scope.includes(pod);
      if (was === now) continue;
      if (now) {
        this.#inScope.add(pod.uid);
        this.#observe(undefined, pod);
      } else {
        this.#inScope.delete(pod.uid);
        this.#observe(pod, undefined);
      }
    }
  }

  #observe(prev: PodFacts | undefined, next: PodFacts | undefined): void {
    this.#o.failures.observe(prev, next);
    this.#o.births?.observe(prev, next);
  }
}
