// What the e2e tests stream and read back: crash loops of Deployments' pods, the whispers'
// counts as the API server stores them, and a wait whose failure carries the aggregator's
// last log lines.
import { vi } from "vitest";
import type { WireEvent } from "../../shared/proto.ts";
import type { KubeApi } from "../kube-api/index.ts";

/** The n-th crash loop of pod `name` (its workload: the name up to the first "-") in `namespace` on `node`. */
export function crashLoopEvent(
  node: string,
  namespace: string,
  name: string,
  n: number,
  extra: Partial<WireEvent> = {},
): WireEvent {
  return {
    id: `${namespace}-${name}/app/${n}/CrashLoopBackOff`,
    pod: {
      uid: `uid-${namespace}-${name}`,
      namespace,
      name,
      node,
      labels: { "workload-id": name.split("-")[0] ?? name },
      owners: [],
      qosClass: "Burstable",
    },
    container: "app",
    observedAtMs: Date.now(),
    count: 1,
    failure: { reason: "CrashLoopBackOff", exitCode: 1, restartCount: n, lastReason: "Error" },
    ...extra,
  };
}

/** The whispers' counts in `namespace` as stored by the API server (cheap to poll). */
export function storedTotal(api: KubeApi, namespace: string): number {
  return api.store
    .list("kernel.gossip.io", "kernelwhispers", namespace)
    .reduce((n, w) => n + Number((w as { status?: { count?: number } }).status?.count ?? 0), 0);
}

/** Waits until `check` holds; a timeout says what it waited for and the aggregator's last lines. */
export function untilWithLogs(logs: readonly string[]) {
  return async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> => {
    await vi.waitFor(
      async () => {
        if (!(await check()))
          throw new Error(`timed out waiting for ${what}; aggregator said: ${logs.join("\n").slice(-4000)}`);
      },
      { timeout: timeoutMs, interval: 20 },
    );
  };
}
