// Issue 12, finding 1, through the real aggregator process: node-a's agent sends a crash loop
// of workload "payments" observed at 1.8e19 ms (year ~570 million). It is refused at the edge
// — Reject KG_EVENT_INVALID naming the field observed_at_ms, the batch never reaches the
// writer — and node-b's crash loop of the same workload is acked within seconds and counted.
// Before: the poison event reached rendering ("Invalid time value"), the writer retried the
// whisper forever and node-b's batch, waiting on the same object, was never acked.
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
let podUid = "";
let aggregator: AggregatorProcess | undefined;
const agents: WireAgent[] = [];

beforeAll(async () => {
  api = await startKubeApiRetrying();
  const kubectl = kubectlFor(api);
  await kubectl("apply", "-f", "crds/");
  await kubectl("create", "namespace", "kernel-gossip");
  await kubectl("create", "namespace", "shop");
  podUid = await createPod(kubectl, "shop", "payments-7d9f-b1", "node-b", { "workload-id": "payments" });
}, 60_000);

afterAll(async () => {
  for (const a of agents) a.close();
  await aggregator?.stop();
  await api?.close();
});

it("an event observed in year 570 million is refused naming the field, and another node's event of the same workload is acked", async () => {
  aggregator = await startAggregatorProcess(api, { STATIC_TOKENS: "tok-a=node-a,tok-b=node-b" });
  const a = await WireAgent.connect(aggregator.streamPort, "tok-a", "node-a");
  const b = await WireAgent.connect(aggregator.streamPort, "tok-b", "node-b");
  agents.push(a, b);

  const poison = a.send([crashLoopEvent("node-a", "shop", "payments-7d9f-a1", 1, { observedAtMs: 1.8e19 })]);
  const reject = await waitFor("node-a's Reject", () => a.rejects[0]);
  expect(reject).toMatchObject({ code: "KG_EVENT_INVALID", field: "observed_at_ms", seq: poison.seq });
  expect(reject.message).toContain("observed_at_ms is 18000000000000000000");
  expect(a.acks.has(poison.seq)).toBe(false);

  const legit = crashLoopEvent("node-b", "shop", "payments-7d9f-b1", 1);
  if (legit.pod) legit.pod.uid = podUid;
  const { seq, sentAt } = b.send([legit]);
  const ack = await waitFor("node-b's ack", () => b.acks.get(seq), 20_000);
  console.log(`node-b's event acked ${ack.at - sentAt} ms after it was sent`);
  expect(ack.at - sentAt).toBeLessThan(5_000);
  expect(ack.dropped).toBe(0);
  const whispers = api.store.list("kernel.gossip.io", "kernelwhispers", "shop");
  expect(whispers.map((w) => [w.spec?.workload?.name, w.status?.count])).toEqual([["payments", 1]]);
  // Every date the aggregator wrote is one the API server accepts.
  expect(JSON.stringify(whispers)).not.toMatch(/"\+0|Invalid/);
  expect(
    await metricValue(
      aggregator.metricsPort,
      'kernel_gossip_aggregator_rejects_total{code="KG_EVENT_INVALID"}',
    ),
  ).toBe(1);
  expect(await metricValue(aggregator.metricsPort, "kernel_gossip_aggregator_retrying_objects")).toBe(0);
}, 60_000);
