// Every kubelet status sequence of the detector table, written into a real (local) API
// server with `kubectl patch --subresource=status`, arrives at the agent's output exactly
// once: PodWatch → scope → FailureReporter → Deduplicator.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "../../test/kube-api/index.ts";
import { type FailureCase, failureCases } from "./testing/cases.ts";
import { type AgentHarness, kubectl, startAgent } from "./testing/harness.ts";

const NODE = "node-a";
let api: KubeApi;
const agents: AgentHarness[] = [];

beforeAll(async () => {
  api = await startKubeApi();
});

afterAll(async () => {
  for (const a of agents) a.stop();
  await api?.close();
});

/** Creates the pod, writes each status in turn, deletes it if the case says so; returns its uid. */
async function playCase(
  kubeconfig: string,
  namespace: string,
  name: string,
  c: FailureCase,
  agent: AgentHarness,
) {
  const manifest = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace },
    spec: { ...c.spec, nodeName: NODE },
  };
  const uid = await kubectl(
    kubeconfig,
    ["apply", "-f", "-", "-o", "jsonpath={.metadata.uid}"],
    JSON.stringify(manifest),
  );
  for (const status of c.statuses) {
    const rv = await kubectl(kubeconfig, [
      "patch",
      "pod",
      name,
      "-n",
      namespace,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status }),
      "-o",
      "jsonpath={.metadata.resourceVersion}",
    ]);
    await expect
      .poll(() => agent.watch.byUid(uid)?.resourceVersion === rv, {
        message: `${name} at resourceVersion ${rv}`,
      })
      .toBe(true);
  }
  if (c.deleteAfter) {
    // As on a real node: the pod turns Terminating, then its kubelet confirms and it is gone.
    await kubectl(kubeconfig, ["delete", "pod", name, "-n", namespace, "--wait=false"]);
    await expect
      .poll(() => agent.watch.byUid(uid)?.deletingSinceMs !== undefined, { message: `${name} Terminating` })
      .toBe(true);
    api.confirmPodDeletion(namespace, name);
    await expect.poll(() => agent.watch.byUid(uid) === undefined, { message: `${name} gone` }).toBe(true);
  }
  return uid;
}

/** The detector's events for a case, as dedup lets them through: the first per container+reason. */
function expectedIds(uid: string, c: FailureCase): string[] {
  const seen = new Set<string>();
  const ids: string[] = [];
  for (const x of c.expect) {
    const key = `${x.container}/${x.reason}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ids.push(`${uid}/${x.container}/${x.index}/${x.reason}`);
  }
  return ids;
}

describe("through the API server and kubectl", () => {
  it("each failure case arrives at the agent's output exactly once", async () => {
    const kc = api.kubeconfigPath;
    const cases = failureCases(Date.now());
    // One agent per configuration of extra reasons, each scoped (allow list) to its namespace.
    const groups = new Map<string, FailureCase[]>();
    for (const c of cases) {
      const key = [...c.extraReasons].sort().join(",") || "core";
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    const runs = [...groups].map(async ([key, group], g) => {
      const namespace = `cases-${g}`;
      await kubectl(kc, ["create", "namespace", namespace]);
      const agent = startAgent({
        kubeconfigPath: kc,
        node: NODE,
        extraReasons: group[0]?.extraReasons,
        scope: { allow: [namespace] },
      });
      agents.push(agent);
      await expect.poll(() => agent.watch.ready(), { message: "first list" }).toBe(true);
      const results: { c: FailureCase; uid: string }[] = [];
      for (const [i, c] of group.entries())
        results.push({ c, uid: await playCase(kc, namespace, `case-${i}`, c, agent) });
      return { key, agent, results };
    });
    for (const { agent, results } of await Promise.all(runs)) {
      const failures = agent.events.filter((e) => e.failure);
      for (const { c, uid } of results) {
        const got = failures.filter((e) => e.pod?.uid === uid).map((e) => e.id);
        expect(got, c.name).toEqual(expectedIds(uid, c));
        // Born under the agent's watch (created without a status): one certificate each.
        const births = agent.events.filter((e) => e.birth && e.pod?.uid === uid);
        expect(
          births.map((e) => e.id),
          c.name,
        ).toEqual([`${uid}/birth`]);
        expect(births[0]?.birth?.ready ? "ready" : births[0]?.birth?.failureReason, c.name).toBe(c.birth);
      }
      const all = failures.map((e) => e.id);
      expect(new Set(all).size).toBe(all.length);
      expect(await agent.metric("kernel_gossip_agent_watch_restarts_total")).toBe(0);
    }
  });
});
