// The pod watch treats every watch as unreliable: a 410, a dropped connection, a stalled
// stream, an agent restart — none may cost a transition or produce a second event.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "../../test/kube-api/index.ts";
import { failureCases } from "./testdata/cases.ts";
import { type AgentHarness, kubectl, startAgent, waitFor } from "./testdata/harness.ts";

const NODE = "node-a";
let api: KubeApi;
let agents: AgentHarness[] = [];
let n = 0;

beforeAll(async () => {
  api = await startKubeApi();
});

afterEach(() => {
  for (const a of agents) a.stop();
  agents = [];
  api.faults.clear();
});

afterAll(async () => {
  await api?.close();
});

function agent(options: Partial<Parameters<typeof startAgent>[0]> = {}): AgentHarness {
  const a = startAgent({ kubeconfigPath: api.kubeconfigPath, node: NODE, ...options });
  agents.push(a);
  return a;
}

/** A namespace and a pod in it whose statuses follow `caseName`; returns helpers. */
async function pod(caseName: string) {
  const c = failureCases(Date.now()).find((x) => x.name === caseName);
  if (!c) throw new Error(caseName);
  const namespace = `watch-${++n}`;
  const name = "cart";
  const kc = api.kubeconfigPath;
  await kubectl(kc, ["create", "namespace", namespace]);
  const manifest = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace },
    spec: { ...c.spec, nodeName: NODE },
  };
  const uid = await kubectl(
    kc,
    ["apply", "-f", "-", "-o", "jsonpath={.metadata.uid}"],
    JSON.stringify(manifest),
  );
  const write = (i: number) =>
    kubectl(kc, [
      "patch",
      "pod",
      name,
      "-n",
      namespace,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: c.statuses[i] }),
      "-o",
      "jsonpath={.metadata.resourceVersion}",
    ]);
  return { c, uid, namespace, write };
}

const failuresOf = (a: AgentHarness, uid: string) =>
  a.events.filter((e) => e.failure && e.pod?.uid === uid).map((e) => e.id);
const seen = (a: AgentHarness, uid: string, rv: string) => () => a.watch.byUid(uid)?.resourceVersion === rv;

describe("supervised pod watch", () => {
  it("relists after a dropped watch and sees, once, the transition made while it was down", async () => {
    const p = await pod("OOM only in lastState after a fast restart");
    const a = agent({ scope: { allow: [p.namespace] } });
    await waitFor(() => a.watch.ready(), "first list");
    await waitFor(seen(a, p.uid, await p.write(0)), "running");
    // Keep the agent from relisting while the OOM kill and restart happen.
    api.faults.failNext({ verb: "list", resource: "pods", status: 503, count: 1_000_000 });
    expect(api.faults.dropWatches({ resource: "pods" })).toBeGreaterThan(0);
    await waitFor(() => api.counters.get("list", "pods") > 1, "a failed relist");
    const rv = await p.write(1);
    expect(a.watch.byUid(p.uid)?.resourceVersion).not.toBe(rv);
    api.faults.clear();
    await waitFor(seen(a, p.uid, rv), "relist");
    await waitFor(seen(a, p.uid, await p.write(2)), "next update");
    expect(failuresOf(a, p.uid)).toEqual([`${p.uid}/app/0/OOMKilled`]);
    expect(
      await a.metric("kernel_gossip_agent_watch_restarts_total", { cause: "error" }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("keeps retrying a failing list with backoff instead of stopping, and recovers", async () => {
    const p = await pod("OOM only in lastState after a fast restart");
    await p.write(0);
    api.faults.failNext({ verb: "list", resource: "pods", status: 500, count: 3 });
    const lists = api.counters.get("list", "pods");
    const a = agent({ scope: { allow: [p.namespace] } });
    await waitFor(() => a.watch.ready(), "first list after three failures", 20_000);
    expect(api.counters.get("list", "pods") - lists).toBe(4);
    expect(await a.metric("kernel_gossip_agent_watch_restarts_total", { cause: "error" })).toBe(3);
    await waitFor(seen(a, p.uid, await p.write(1)), "watch works");
    expect(failuresOf(a, p.uid)).toEqual([`${p.uid}/app/0/OOMKilled`]);
  });

  it("resumes a watch the server ended normally without relisting", async () => {
    const p = await pod("crash loop");
    const a = agent({ scope: { allow: [p.namespace] } });
    await waitFor(() => a.watch.ready(), "first list");
    await waitFor(seen(a, p.uid, await p.write(0)), "running");
    const lists = api.counters.get("list", "pods");
    const watches = api.counters.get("watch", "pods");
    expect(api.faults.dropWatches({ resource: "pods", graceful: true })).toBeGreaterThan(0);
    await waitFor(() => api.counters.get("watch", "pods") > watches, "a new watch");
    await waitFor(seen(a, p.uid, await p.write(1)), "terminated");
    await waitFor(seen(a, p.uid, await p.write(2)), "back-off");
    expect(api.counters.get("list", "pods")).toBe(lists);
    expect(
      await a.metric("kernel_gossip_agent_watch_restarts_total", { cause: "closed" }),
    ).toBeGreaterThanOrEqual(1);
    expect(failuresOf(a, p.uid)).toEqual([`${p.uid}/app/0/CrashLoopBackOff`]);
  });

  it("relists consistently after 410 Gone without a duplicate or a lost transition", async () => {
    const p = await pod("OOM in state");
    const a = agent({ scope: { allow: [p.namespace] } });
    await waitFor(() => a.watch.ready(), "first list");
    await waitFor(seen(a, p.uid, await p.write(0)), "running");
    await waitFor(seen(a, p.uid, await p.write(1)), "OOM killed");
    api.faults.failNext({ verb: "list", resource: "pods", status: 503, count: 1_000_000 });
    api.faults.expireResourceVersions();
    await waitFor(() => api.counters.get("list", "pods") > 1, "a relist attempt");
    const rv2 = await p.write(2); // back-off, while the agent cannot list
    api.faults.clear();
    await waitFor(seen(a, p.uid, rv2), "relist after 410");
    api.faults.expireResourceVersions();
    await waitFor(seen(a, p.uid, await p.write(3)), "restarted");
    expect(failuresOf(a, p.uid)).toEqual([`${p.uid}/app/0/OOMKilled`, `${p.uid}/app/0/CrashLoopBackOff`]);
    expect(
      await a.metric("kernel_gossip_agent_watch_restarts_total", { cause: "gone" }),
    ).toBeGreaterThanOrEqual(2);
  });

  it("restarts a stalled watch (stale) and catches up", async () => {
    const p = await pod("crash loop");
    const a = agent({ scope: { allow: [p.namespace] }, staleAfterMs: 1_500 });
    await waitFor(() => a.watch.ready(), "first list");
    await waitFor(seen(a, p.uid, await p.write(0)), "running");
    expect(api.faults.stallWatches({ resource: "pods" })).toBeGreaterThan(0);
    await p.write(1);
    const rv = await p.write(2);
    await waitFor(seen(a, p.uid, rv), "catch-up after the stale restart");
    expect(
      await a.metric("kernel_gossip_agent_watch_restarts_total", { cause: "stale" }),
    ).toBeGreaterThanOrEqual(1);
    expect(failuresOf(a, p.uid)).toEqual([`${p.uid}/app/0/CrashLoopBackOff`]);
  });

  it("an agent restart reports nothing twice under a new id", async () => {
    const p = await pod("crash loop");
    const q = await pod("OOM only in lastState after a fast restart");
    const scope = { allow: [p.namespace, q.namespace] };
    const first = agent({ scope });
    await waitFor(() => first.watch.ready(), "first list");
    for (let i = 0; i < p.c.statuses.length; i++)
      await waitFor(seen(first, p.uid, await p.write(i)), `p status ${i}`);
    for (let i = 0; i < 2; i++) await waitFor(seen(first, q.uid, await q.write(i)), `q status ${i}`);
    // Graceful shutdown hands on what dedup held back.
    first.dedup.flush();
    first.stop();
    const delivered = new Set(first.events.map((e) => e.id ?? ""));
    expect([...delivered].filter((id) => id.includes("/app/"))).toEqual([
      `${p.uid}/app/0/CrashLoopBackOff`,
      `${q.uid}/app/0/OOMKilled`,
      `${p.uid}/app/1/CrashLoopBackOff`,
    ]);

    const second = agent({ scope });
    await waitFor(() => second.watch.ready(), "second agent's first list");
    // Everything the new agent reports about what happened before it started carries an id
    // that was already delivered (the aggregator drops such redeliveries): the crash loop
    // still going on, and the OOM kill of a minute ago.
    const again = second.events.filter((e) => e.failure).map((e) => e.id ?? "");
    expect(again.length).toBeGreaterThan(0);
    for (const id of again) expect(delivered.has(id), `${id} delivered before`).toBe(true);
    // A failure after the restart is reported once.
    const r = await pod("OOM only in lastState after a fast restart");
    second.scope.configure({ allow: [...scope.allow, r.namespace], deny: [], labelSelector: "" });
    for (let i = 0; i < r.c.statuses.length; i++)
      await waitFor(seen(second, r.uid, await r.write(i)), `r status ${i}`);
    expect(second.events.filter((e) => e.failure).map((e) => e.id)).toEqual([
      ...again,
      `${r.uid}/app/0/OOMKilled`,
    ]);
  });
});
