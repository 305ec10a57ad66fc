/**
 * The STATUS / READY / RESTARTS cells kubectl shows for pods (printPod in
 * kubernetes/pkg/printers/internalversion) and the STATUS of jobs.
 */
import { humanDuration } from "./age.ts";
import type { Json, KObj } from "./types.ts";

const int = (v: unknown): number => (typeof v === "number" ? v : 0);

export function podStatus(pod: KObj, now: number): { reason: string; ready: string; restarts: string } {
  const spec = pod.spec ?? {};
  const st = pod.status ?? {};
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = 0;
  const initSpecs: Json[] = spec.initContainers ?? [];
  const sidecars = initSpecs.filter((c) => c.restartPolicy === "Always").length;
  const total = (spec.containers ?? []).length + sidecars;
  let ready = 0;
  let reason: string = st.reason || st.phase || "";
  const noteRestart = (c: Json): void => {
    restarts += int(c.restartCount);
    const t = Date.parse(c.lastState?.terminated?.finishedAt ?? "");
    if (!Number.isNaN(t) && t > lastRestart) lastRestart = t;
  };
  let initializing = false;
  (st.initContainerStatuses ?? []).forEach((c: Json, i: number) => {
    if (initializing) return;
    noteRestart(c);
    const sidecar = initSpecs[i]?.restartPolicy === "Always";
    if (sidecar) sidecarRestarts += int(c.restartCount);
    const term = c.state?.terminated;
    if (term && term.exitCode === 0) return;
    if (sidecar && c.started) {
      if (c.ready) ready++;
      return;
    }
    initializing = true;
    if (term)
      reason = `Init:${term.reason || (term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode}`)}`;
    else if (c.state?.waiting?.reason && c.state.waiting.reason !== "PodInitializing")
      reason = `Init:${c.state.waiting.reason}`;
    else reason = `Init:${i}/${initSpecs.length}`;
  });
  const initialized = (st.conditions ?? []).some(
    (c: Json) => c.type === "Initialized" && c.status === "True",
  );
  if (!initializing || initialized) {
    restarts = sidecarRestarts;
    let hasRunning = false;
    const cs: Json[] = st.containerStatuses ?? [];
    for (let i = cs.length - 1; i >= 0; i--) {
      const c = cs[i];
      noteRestart(c);
      const term = c.state?.terminated;
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (term?.reason) reason = term.reason;
      else if (term) reason = term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode}`;
      else if (c.ready && c.state?.running) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === "Completed" && hasRunning) {
      const podReady = (st.conditions ?? []).some((c: Json) => c.type === "Ready" && c.status === "True");
      reason = podReady ? "Running" : "NotReady";
    }
  }
  if (pod.metadata.deletionTimestamp && st.reason === "NodeLost") reason = "Unknown";
  else if (pod.metadata.deletionTimestamp && st.phase !== "Succeeded" && st.phase !== "Failed")
    reason = "Terminating";
  const r = lastRestart ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts);
  return { reason, ready: `${ready}/${total}`, restarts: r };
}

export function jobStatus(job: KObj): string {
  const conds: Json[] = job.status?.conditions ?? [];
  const has = (t: string) => conds.some((c) => c.type === t && c.status === "True");
  if (has("Complete")) return "Complete";
  if (has("Failed")) return "Failed";
  if (job.metadata.deletionTimestamp) return "Terminating";
  if (has("FailureTarget")) return "FailureTarget";
  if (has("SuccessCriteriaMet")) return "SuccessCriteriaMet";
  if (has("Suspended")) return "Suspended";
  return "Running";
}
