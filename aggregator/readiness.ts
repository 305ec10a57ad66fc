// The aggregator's /readyz: ready only when what it needs to do its job is there — the API
// server answers, it serves both custom resources (kube-apiserver lists a CRD's resource in
// discovery only once the CRD is Established), and the stream endpoint is listening. The
// API is probed in the background (never from the probe request itself), and the reason
// names what is missing and what to do.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { Clock, Timer } from "../shared/clock.ts";
import { causeChain } from "../shared/errors.ts";
import type { Logger } from "../shared/log.ts";
import { BIRTH_PLURAL } from "./emit/birth.ts";
import { GROUP, VERSION, WHISPER_PLURAL } from "./emit/whisper.ts";

export interface Readiness {
  /** Undefined when ready, else why not (one line). */
  notReadyReason(): string | undefined;
  stop(): void;
}

export function startReadiness(deps: {
  kubeConfig: KubeConfig;
  clock: Clock;
  log: Logger;
  /** Whether the stream endpoint accepts agents. */
  streamListening: () => boolean;
  /** How often the API server is probed (default 10 s). */
  intervalMs?: number;
}): Readiness {
  const api = deps.kubeConfig.makeApiClient(CustomObjectsApi);
  const intervalMs = deps.intervalMs ?? 10_000;
  const log = deps.log.child({ component: "readiness" });
  let apiProblem: string | undefined = "the API server has not been probed yet";
  let timer: Timer | undefined;
  let stopped = false;

  const notServed = (plurals: string[]): string =>
    `CRDs not established: the API server does not serve ${plurals.map((p) => `${p}.${GROUP}`).join(", ")}; apply crds/ (kubectl apply -f crds/)`;
  const probe = async (): Promise<void> => {
    let problem: string | undefined;
    try {
      let timeout: Timer | undefined;
      const list = await Promise.race([
        api.getAPIResources({ group: GROUP, version: VERSION }),
        new Promise<never>((_, reject) => {
          timeout = deps.clock.setTimeout(
            () =>
              reject(
                new Error(
                  `no answer from ${deps.kubeConfig.getCurrentCluster()?.server} within ${intervalMs} ms`,
                ),
              ),
            intervalMs,
          );
        }),
      ]).finally(() => timeout !== undefined && deps.clock.clearTimeout(timeout));
      const served = new Set((list.resources ?? []).map((r) => r.name));
      const missing = [WHISPER_PLURAL, BIRTH_PLURAL].filter((p) => !served.has(p));
      if (missing.length > 0) problem = notServed(missing);
    } catch (err) {
      const status = (err as { code?: unknown }).code;
      problem =
        status === 404
          ? notServed([WHISPER_PLURAL, BIRTH_PLURAL])
          : `API server unreachable: ${causeChain(err)}`;
    }
    if (stopped) return;
    if (problem !== apiProblem) {
      if (problem) log.warn({ reason: problem }, `not ready: ${problem}`);
      else log.info("API server reachable and both CRDs established: ready");
    }
    apiProblem = problem;
    timer = deps.clock.setTimeout(() => void probe(), intervalMs);
  };
  void probe();

  return {
    notReadyReason() {
      if (!deps.streamListening()) return "the agent stream endpoint is not listening (shutting down)";
      return apiProblem;
    },
    stop() {
      stopped = true;
      if (timer !== undefined) deps.clock.clearTimeout(timer);
    },
  };
}
