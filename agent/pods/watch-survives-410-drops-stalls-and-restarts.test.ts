// The pod watch treats every watch as unreliable: a 410, a dropped connection, a stalled
// stream, an agent restart — none may cost a transition or produce a second event.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "../../test/kube-api/index.ts";
import { failureCases } from "./testing/cases.ts";
import { type AgentHarness, kubectl, startAgent } from "./testing/harness.ts";

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
    await expect.poll(() => a.watch.ready(), { message: "first list" }).toBe(true);
    await expect.poll(seen(a, p.uid, await p.write(0)), { message: "running" }).toBe(true);
    // Keep the agent from relisting while the OOM kill and restart happen.
    api.faults.failNext({ verb: "list", resource: "pods", status: 503, count: 1_000_000 });
    expect(api.faults.dropWatches({ resource: "pods" })).toBeGreaterThan(0);
    await expect.poll(() => api.counters.get("list", "pods") > 1, { message: "a failed relist" }).toBe(true);
    const rv = await p.write(1);
    expect(a.watch.byUid(p.uid)?.resourceVersion).not.toBe(rv);
    api.faults.clear();
    await expect.poll(seen(a, p.uid, rv), { message: "relist" }).toBe(true);
    await expect.poll(seen(a, p.uid, await p.write(2)), { message: "next update" }).toBe(true);
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
    await expect
      .poll(() => a.watch.ready(), { message: "first list after three failures", timeout: 20_000 })
      .toBe(true);
    expect(api.counters.get("list", "pods") - lists).toBe(4);
    expect(await a.metric("kernel_gossip_agent_watch_restarts_total", { cause: "error" })).toBe(3);
    await expect.poll(seen(a, p.uid, await p.write(1)), { message: "watch works" }).toBe(true);
    expect(failuresOf(a, p.uid)).toEqual([`${p.uid}/app/0/OOMKilled`]);
  });

  it("resumes a watch the server ended normally without relisting", async () => {
    const p = await pod("crash loop");
    const a = agent({ scope: { allow: [p.namespace] } });
    await expect.poll(() => a.watch.ready(), { message: "first list" }).toBe(true);
    await expect.poll(seen(a, p.uid, await p.write(0)), { message: "running" }).toBe(true);
    const lists = api.counters.get("list", "pods");
    const watches = api.counters.get("watch", "pods");
    expect(api.faults.dropWatches({ resource: "pods", graceful: true })).toBeGreaterThan(0);
    await expect
      .poll(() => api.counters.get("watch", "pods") > watches, { message: "a new watch" })
      .toBe(true);
    await expect.poll(seen(a, p.uid, await p.write(1)), { message: "terminated" }).toBe(true);
    await expect.poll(seen(a, p.uid, await p.write(2)), { message: "back-off" }).toBe(true);
    expect(api.counters.get("list", "pods")).toBe(lists);
    expect(
      await a.metric("kernel_gossip_agent_watch_restarts_total", { cause: "closed" }),
    ).toBeGreaterThanOrEqual(1);
    expect(failuresOf(a, p.uid)).toEqual([`${p.uid}/app/0/CrashLoopBackOff`]);
  });

  it("relists consistently after 410 Gone without a duplicate or a lost transition", async () => {
    const p = await pod("OOM in state");
    const a = agent({ scope: { allow: [p.namespace] } });
    await expect.poll(() => a.watch.ready(), { message: "first list" }).toBe(true);
    await expect.poll(seen(a, p.uid, await p.write(0)), { message: "running" }).toBe(true);
    await expect.poll(seen(a, p.uid, await p.write(1)), { message: "OOM killed" }).toBe(true);
    api.faults.failNext({ verb: "list", resource: "pods", status: 503, count: 1_000_000 });
    api.faults.expireResourceVersions();
    await expect.poll(() => api.counters.get("list", "pods") > 1, { message: "a relist attempt" }).toBe(true);
    const rv2 = await p.write(2); // back-off, while the agent cannot list
    api.faults.clear();
    await expect.poll(seen(a, p.uid, rv2), { message: "relist after 410" }).toBe(true);
    api.faults.expireResourceVersions();
    await expect.poll(seen(a, p.uid, await p.write(3)), { message: "restarted" }).toBe(true);
    expect(failuresOf(a, p.uid)).toEqual([`${p.uid}/app/0/OOMKilled`, `${p.uid}/app/0/CrashLoopBackOff`]);
    expect(
      await a.metric("kernel_gossip_agent_watch_restarts_total", { cause: "gone" }),
    ).toBeGreaterThanOrEqual(2);
  });

  it("restarts a stalled watch (stale) and catches up", async () => {
    const p = await pod("crash loop");
    const a = agent({ scope: { allow: [p.namespace] }, staleAfterMs: 1_500 });
    await expect.poll(() => a.watch.ready(), { message: "first list" }).toBe(true);
    await expect.poll(seen(a, p.uid, await p.write(0)), { message: "running" }).toBe(true);
    expect(api.faults.stallWatches({ resource: "pods" })).toBeGreaterThan(0);
    await p.write(1);
    const rv = await p.write(2);
    await expect.poll(seen(a, p.uid, rv), { message: "catch-up after the stale restart" }).toBe(true);
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
    await expect.poll(() => first.watch.ready(), { message: "first list" }).toBe(true);
    for (let i = 0; i < p.c.statuses.length; i++)
      await expect.poll(seen(first, p.uid, await p.write(i)), { message: `p status ${i}` }).toBe(true);
    for (let i = 0; i < 2; i++)
      await expect.poll(seen(first, q.uid, await q.write(i)), { message: `q status ${i}` }).toBe(true);
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
    await expect.poll(() => second.watch.ready(), { message: "second agent's first list" }).toBe(true);
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
      await expect.poll(seen(second, r.uid, await r.write(i)), { message: `r status ${i}` }).toBe(true);
    expect(second.events.filter((e) => e.failure).map((e) => e.id)).toEqual([
      ...again,
      `${r.uid}/app/0/OOMKilled`,
    ]);
  });
});
