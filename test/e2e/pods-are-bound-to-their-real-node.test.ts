// Issue 12, finding 3, through the real aggregator process: events are checked against the
// pod as the API server has it. A real pod bound to node-b, reported by node-a's agent with
// pod.node forged to node-a, is refused with KG_NODE_MISMATCH and nothing is written (before:
// acked and written as `affectedPods: [{name: payments-7d9f-b1, node: node-a}]`). node-b's
// own report with forged labels lands in the workload the pod really belongs to. An event
// about a pod that never existed is dropped (counted); a pod seen alive and then deleted (a
// crash loop, then the namespace's cleanup) is still accepted.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { KubeApi } from "../kube-api/index.ts";
import { kubectlFor, startKubeApiRetrying } from "./harness.ts";
import {
  type AggregatorProcess,
  crashLoopEvent,
  createPod,
  metricValue,
  startAggregatorProcess,
  WireAgent,
  waitFor,
} from "./hostile-agents.ts";

let api: KubeApi;
let kubectl: (...args: string[]) => Promise<string>;
let aggregator: AggregatorProcess | undefined;
const agents: WireAgent[] = [];

beforeAll(async () => {
  api = await startKubeApiRetrying();
  kubectl = kubectlFor(api);
  await kubectl("apply", "-f", "crds/");
  await kubectl("create", "namespace", "kernel-gossip");
  await kubectl("create", "namespace", "shop");
}, 60_000);
afterAll(async () => {
  for (const a of agents) a.close();
  await aggregator?.stop();
  await api?.close();
});

const whispers = () =>
  api.store.list("kernel.gossip.io", "kernelwhispers", "shop") as {
    spec?: { workload?: { name?: string } };
    status?: { count?: number; affectedPods?: { name: string; node: string }[] };
  }[];

it("a forged node is refused, identity comes from the API server, unknown pods are dropped, deleted pods seen alive still count", async () => {
  const payments = await createPod(kubectl, "shop", "payments-7d9f-b1", "node-b", {
    "workload-id": "payments",
  });
  aggregator = await startAggregatorProcess(api, {
    STATIC_TOKENS: "tok-a=node-a,tok-b=node-b",
    OBJECT_MIN_INTERVAL: "200ms",
  });
  const a = await WireAgent.connect(aggregator.streamPort, "tok-a", "node-a");
  const b = await WireAgent.connect(aggregator.streamPort, "tok-b", "node-b");
  agents.push(a, b);

  // node-a forges pod.node for node-b's pod.
  const forged = crashLoopEvent("node-a", "shop", "payments-7d9f-b1", 1);
  if (forged.pod) forged.pod.uid = payments;
  const refused = a.send([forged]);
  const reject = await waitFor("node-a's Reject", () => a.rejects[0]);
  expect(reject.code).toBe("KG_NODE_MISMATCH");
  expect(reject.seq).toBe(refused.seq);
  expect(reject.message).toContain('the API server has on node "node-b"');
  expect(a.acks.size).toBe(0);

  // node-b reports its own pod with forged labels: the API server's labels win.
  const own = crashLoopEvent("node-b", "shop", "payments-7d9f-b1", 2);
  if (own.pod) {
    own.pod.uid = payments;
    own.pod.labels = { "workload-id": "billing" };
  }
  const ownSeq = b.send([own]).seq;
  expect(await waitFor("node-b's ack", () => b.acks.get(ownSeq))).toMatchObject({ dropped: 0 });
  expect(whispers().map((w) => [w.spec?.workload?.name, w.status?.count])).toEqual([["payments", 1]]);
  expect(whispers()[0]?.status?.affectedPods?.map((p) => [p.name, p.node])).toEqual([
    ["payments-7d9f-b1", "node-b"],
  ]);

  // A pod that never existed: acked, dropped, counted.
  const ghostSeq = b.send([crashLoopEvent("node-b", "shop", "ghost-1a2b-c3", 1)]).seq;
  expect(await waitFor("the ghost's ack", () => b.acks.get(ghostSeq))).toMatchObject({ dropped: 1 });
  expect(
    await metricValue(
      aggregator.metricsPort,
      'kernel_gossip_aggregator_events_dropped_total{reason="pod_not_found"}',
    ),
  ).toBe(1);

  // A crash loop seen alive, then the pod is deleted: its later events still count.
  await kubectl("delete", "pod", "payments-7d9f-b1", "-n", "shop", "--grace-period=0", "--force");
  await waitFor("the pod gone", () =>
    api.store.get("", "pods", "shop", "payments-7d9f-b1") ? undefined : true,
  );
  const late = crashLoopEvent("node-b", "shop", "payments-7d9f-b1", 3);
  if (late.pod) late.pod.uid = payments;
  const lateSeq = b.send([late]).seq;
  expect(await waitFor("the late event's ack", () => b.acks.get(lateSeq))).toMatchObject({ dropped: 0 });
  await waitFor("the count of 2", () => (whispers()[0]?.status?.count === 2 ? true : undefined));
  expect(
    await metricValue(
      aggregator.metricsPort,
      'kernel_gossip_aggregator_rejects_total{code="KG_NODE_MISMATCH"}',
    ),
  ).toBe(1);
}, 90_000);
