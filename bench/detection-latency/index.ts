// Detection latency: a pod's status is patched to crash-looping (the PATCH a kubelet
// sends, through the status subresource) → the real agent sees it on its pod watch, sends
// it → the real aggregator writes a KernelWhisper → the whisper is visible on a watch.
// Floor: the same PATCH → the pod's own watch event, on the same API server, in the same
// trial. Each trial uses a pod of its own workload, so each measures a first detection (a
// new whisper), not an update held back by the per-object write interval.
//
// The PATCH is sent over HTTP from this process rather than by `kubectl patch`: kubectl's
// process start (~150 ms) would dominate both figures and says nothing about kernel-gossip.
import { type BenchKube, startBenchKube, watch } from "../cluster/kube.ts";
import { simulateNode } from "../cluster/node.ts";
import { crashLoopStatus } from "../cluster/pods.ts";
import { startAgent, startAggregator } from "../cluster/roles.ts";
import { type Child, tempDir, waitFor } from "../proc/child.ts";
import { metricValue, scrape } from "../proc/metrics.ts";
import { round, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";

const NODE = "node-1";
const WARMUP = 5;
/** Extra trials with the real `kubectl patch --subresource=status`, to show what kubectl adds. */
const KUBECTL_TRIALS = 5;
const TRIAL_TIMEOUT_MS = 15_000;

interface Pending {
  pod: string;
  workload: string;
  restartCount: number;
  t0: number;
  podSeen?: number;
  whisperSeen?: number;
  done: () => void;
}

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const trials = quick ? 10 : 200;
  const tmp = tempDir("latency");
  const children: Child[] = [];
  const stops: (() => void)[] = [];
  let kube: BenchKube | undefined;
  try {
    kube = await startBenchKube(tmp.path);
    const node = await simulateNode(kube, tmp.path, {
      node: NODE,
      pods: trials + WARMUP + KUBECTL_TRIALS,
      containers: trials + WARMUP + KUBECTL_TRIALS,
      workloads: trials + WARMUP + KUBECTL_TRIALS,
      namespaces: 4,
      prefix: "lat",
    });
    await node.tick(10);
    const aggregator = await startAggregator({
      logDir: tmp.path,
      kubeconfig: kube.api.kubeconfigPath,
      tokens: [`tok=${NODE}`],
    });
    children.push(aggregator.child);
    const agent = await startAgent({
      logDir: tmp.path,
      kubeconfig: kube.api.kubeconfigPath,
      node: NODE,
      aggregatorUrl: aggregator.streamUrl ?? "",
      token: "tok",
      cgroupRoot: node.cgroupRoot,
    });
    children.push(agent.child);
    await waitFor(
      "the agent's link to the aggregator",
      async () =>
        metricValue(await scrape(agent.metricsUrl), "kernel_gossip_agent_link_connected") === 1
          ? true
          : undefined,
      { timeoutMs: 30_000, child: agent.child },
    );

    let current: Pending | undefined;
    const check = () => {
      if (current?.podSeen !== undefined && current.whisperSeen !== undefined) current.done();
    };
    const podWatch = watch(kube, `/api/v1/pods?fieldSelector=spec.nodeName%3D${NODE}`, (type, obj) => {
      const c = current;
      if (!c || type !== "MODIFIED" || c.podSeen !== undefined) return;
      const meta = obj.metadata as { name?: string } | undefined;
      const status = obj.status as { containerStatuses?: { restartCount?: number }[] } | undefined;
      if (meta?.name === c.pod && status?.containerStatuses?.[0]?.restartCount === c.restartCount) {
        c.podSeen = performance.now();
        check();
      }
    });
    stops.push(podWatch.stop);
    const kwWatch = watch(kube, "/apis/kernel.gossip.io/v1alpha1/kernelwhispers", (type, obj) => {
      const c = current;
      if (!c || type === "DELETED" || c.whisperSeen !== undefined) return;
      const spec = obj.spec as { workload?: { name?: string }; signal?: string } | undefined;
      if (spec?.workload?.name === c.workload && spec.signal === "CrashLoopBackOff") {
        c.whisperSeen = performance.now();
        check();
      }
    });
    stops.push(kwWatch.stop);
    await Promise.all([podWatch.started, kwWatch.started]);

    const floor: number[] = [];
    const detect: number[] = [];
    const above: number[] = [];
    const viaKubectl: number[] = [];
    const viaKubectlFloor: number[] = [];
    let timeouts = 0;
    const startedAt = `${new Date(Date.now() - 60_000).toISOString().slice(0, 19)}Z`;
    for (const [i, pod] of node.pods.entries()) {
      const trial = await new Promise<Pending>((resolve) => {
        const p: Pending = {
          pod: pod.name,
          workload: pod.workload,
          restartCount: 1,
          t0: 0,
          done: () => resolve(p),
        };
        const timer = setTimeout(() => resolve(p), TRIAL_TIMEOUT_MS);
        p.done = () => {
          clearTimeout(timer);
          resolve(p);
        };
        current = p;
        const status = { status: crashLoopStatus(pod, startedAt, 1) };
        p.t0 = performance.now();
        const patched =
          i >= WARMUP + trials
            ? kube?.kubectl(
                "patch",
                "pod",
                pod.name,
                "-n",
                pod.namespace,
                "--subresource=status",
                "--type=merge",
                "-p",
                JSON.stringify(status),
              )
            : kube?.request(
                "PATCH",
                `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/status`,
                status,
                "application/merge-patch+json",
              );
        patched?.catch((err: unknown) => {
          process.stderr.write(`bench: patch of ${pod.name} failed: ${String(err)}\n`);
        });
      });
      current = undefined;
      if (i < WARMUP) continue;
      if (i >= WARMUP + trials) {
        if (trial.podSeen !== undefined && trial.whisperSeen !== undefined) {
          viaKubectl.push(trial.whisperSeen - trial.t0);
          viaKubectlFloor.push(trial.podSeen - trial.t0);
        }
        continue;
      }
      if (trial.podSeen === undefined || trial.whisperSeen === undefined) {
        timeouts++;
        continue;
      }
      floor.push(trial.podSeen - trial.t0);
      detect.push(trial.whisperSeen - trial.t0);
      above.push(trial.whisperSeen - trial.podSeen);
      await new Promise((r) => setTimeout(r, 20));
    }
    const f = summarize(floor);
    const d = summarize(detect);
    const a = summarize(above);
    const measured = `${d.n} of ${trials} trials${timeouts ? `, ${timeouts} not seen within ${TRIAL_TIMEOUT_MS / 1000} s` : ""}${quick ? " (quick; the full run has 200)" : ""}`;
    return {
      name: "detection latency",
      rows: [
        {
          figure: "patch → KernelWhisper on a watch",
          value: round(d.median),
          p99: round(d.p99),
          unit: "ms",
          floor: round(f.median),
          ratio: round(d.median / f.median),
          note: `${measured}; PATCH over HTTP from the bench (not kubectl: its process start would dominate both; see the kubectl row); floor = the same PATCH → the pod's watch event (floor p99 ${round(f.p99)} ms)`,
        },
        {
          figure: "… above the floor",
          value: round(a.median),
          p99: round(a.p99),
          unit: "ms",
          target: "p50 ≤ 100 ms, p99 ≤ 500 ms",
          pass: d.n > 0 && timeouts === 0 && a.median <= 100 && a.p99 <= 500,
          note: "per trial: KernelWhisper seen − pod event seen; agent and aggregator with default options",
        },
        {
          figure: "with the real `kubectl patch --subresource=status`",
          value: round(summarize(viaKubectl).median),
          p99: round(summarize(viaKubectl).p99),
          unit: "ms",
          floor: round(summarize(viaKubectlFloor).median),
          ratio: round(summarize(viaKubectl).median / summarize(viaKubectlFloor).median),
          note: `${viaKubectl.length} trials from starting kubectl to the KernelWhisper on the watch; floor = starting kubectl → the pod's watch event: kubectl's own start-up is most of both`,
        },
      ],
    };
  } finally {
    for (const stop of stops) stop();
    for (const child of children.reverse()) await child.stop();
    await kube?.close();
    tmp.cleanup();
  }
}

export const detectionLatency = { id: "detection-latency", run } satisfies BenchCase;
