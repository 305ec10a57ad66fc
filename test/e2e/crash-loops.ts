// What the aggregator kill and journal e2e tests stream and read back: distinct crash loops of
// Deployments' pods, the whispers' counts as the API server stores them, and a wait whose
// failure carries the aggregator's last log lines.
import { vi } from "vitest";
import type { WireEvent } from "../../shared/proto.ts";
import type { KubeApi } from "../kube-api/index.ts";

/** The n-th crash loop (a globally distinct id) of pod `pod` of `deployment`, on `node`. */
export function deploymentCrashLoop(o: {
  namespace: string;
  node: string;
  deployment: string;
  pod: number;
  n: number;
}): WireEvent {
  const { namespace, node, deployment, pod: p, n } = o;
  return {
    id: `uid-${p}/app/${n}/CrashLoopBackOff`,
    pod: {
      uid: `uid-${p}`,
      namespace,
      name: `${deployment}-7d9f-${p}`,
      node,
      labels: { "workload-id": deployment },
      owners: [],
      qosClass: "Burstable",
    },
    container: "app",
    observedAtMs: Date.now(),
    count: 1,
    failure: { reason: "CrashLoopBackOff", exitCode: 1, restartCount: n, lastReason: "Error" },
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
