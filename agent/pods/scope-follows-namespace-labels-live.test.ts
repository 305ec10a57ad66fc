// Scope through the API server: system namespaces and the agent's own are skipped, the
// opt-out annotation is honoured, and in label-selected mode labelling a namespace with
// kubectl brings its pods (and their current crash loops) into scope live.
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../shared/log.ts";
import { type KubeApi, startKubeApi } from "../../test/kube-api/index.ts";
import { failureCases } from "./testing/cases.ts";
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

/** A pod crash-looping in `namespace` (created if missing); returns its uid and final resourceVersion. */
async function crashLooping(namespace: string, name: string, annotations: Record<string, string> = {}) {
  const kc = api.kubeconfigPath;
  const c = failureCases(Date.now()).find((x) => x.name === "crash loop");
  if (!c) throw new Error("case missing");
  await kubectl(kc, ["create", "namespace", namespace]).catch(() => "exists");
  const manifest = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, annotations },
    spec: { ...c.spec, nodeName: NODE },
  };
  const uid = await kubectl(
    kc,
    ["apply", "-f", "-", "-o", "jsonpath={.metadata.uid}"],
    JSON.stringify(manifest),
  );
  let rv = "";
  for (const status of c.statuses.slice(0, 3)) {
    rv = await kubectl(kc, [
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
  }
  return { uid, rv };
}

describe("namespace scope", () => {
  it("skips system namespaces, the agent's own and opted-out pods", async () => {
    const sys = await crashLooping("kube-system", "coredns");
    const own = await crashLooping("kernel-gossip", "aggregator");
    const optedOut = await crashLooping("team-a", "noisy", { "kernel-gossip.io/ignore": "true" });
    const reported = await crashLooping("team-a", "cart");
    const a = startAgent({ kubeconfigPath: api.kubeconfigPath, node: NODE });
    agents.push(a);
    await expect
      .poll(() => a.watch.byUid(reported.uid)?.resourceVersion === reported.rv, { message: "pods listed" })
      .toBe(true);
    for (const p of [sys, own, optedOut]) expect(a.watch.byUid(p.uid)?.resourceVersion).toBe(p.rv);
    expect(a.events.filter((e) => e.failure).map((e) => e.pod?.name)).toEqual(["cart"]);
    a.stop();
  });

  it("follows the namespace label selector live", async () => {
    const kc = api.kubeconfigPath;
    const before = await crashLooping("team-b", "web");
    const a = startAgent({
      kubeconfigPath: kc,
      node: NODE,
      scope: { labelSelector: "kernel-gossip.io/enabled=true" },
    });
    agents.push(a);
    await expect
      .poll(() => a.watch.byUid(before.uid)?.resourceVersion === before.rv && a.scope.ready(), {
        message: "lists",
      })
      .toBe(true);
    expect(a.events.filter((e) => e.pod?.namespace === "team-b")).toEqual([]);

    await kubectl(kc, ["label", "namespace", "team-b", "kernel-gossip.io/enabled=true"]);
    await expect
      .poll(() => a.events.some((e) => e.pod?.uid === before.uid), { message: "team-b in scope" })
      .toBe(true);
    expect(a.events.filter((e) => e.failure).map((e) => e.id)).toEqual([
      `${before.uid}/app/0/CrashLoopBackOff`,
    ]);

    // Out of scope again: new failures there are not reported.
    await kubectl(kc, ["label", "namespace", "team-b", "kernel-gossip.io/enabled-"]);
    await expect
      .poll(() => !a.scope.includesNamespace("team-b"), { message: "team-b out of scope" })
      .toBe(true);
    const after = await crashLooping("team-b", "api");
    await expect
      .poll(() => a.watch.byUid(after.uid)?.resourceVersion === after.rv, { message: "api seen" })
      .toBe(true);
    expect(a.events.filter((e) => e.failure).map((e) => e.id)).toEqual([
      `${before.uid}/app/0/CrashLoopBackOff`,
    ]);

    // A live switch back to plain allow/deny puts both in scope; the known crash loop is
    // not reported again, the new one is.
    a.scope.configure({ allow: [], deny: ["kube-system"], labelSelector: "" });
    const teamB = a.events.filter((e) => e.failure && e.pod?.namespace === "team-b");
    expect(teamB.map((e) => e.id)).toEqual([
      `${before.uid}/app/0/CrashLoopBackOff`,
      `${after.uid}/app/0/CrashLoopBackOff`,
    ]);
  });

  it("says what is wrong with a label selector the API server refuses, and keeps running", async () => {
    const lines: { msg: string; cause?: string }[] = [];
    const stream = new PassThrough();
    stream.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
    });
    const log = createLogger({ level: "warn", destination: stream });
    const ok = await crashLooping("team-c", "svc");
    const a = startAgent({
      kubeconfigPath: api.kubeconfigPath,
      node: NODE,
      log,
      scope: { labelSelector: "kernel-gossip.io/enabled=true" },
    });
    agents.push(a);
    await expect
      .poll(() => a.scope.ready() && a.watch.byUid(ok.uid) !== undefined, { message: "lists" })
      .toBe(true);
    a.scope.configure({ allow: [], deny: [], labelSelector: "a b c" });
    await expect
      .poll(() => lines.some((l) => l.msg.includes("check the selector options")), {
        message: "an explanation in the log",
      })
      .toBe(true);
    expect(a.scope.ready()).toBe(false);
    // Fixed live: back in business.
    a.scope.configure({ allow: ["team-c"], deny: [], labelSelector: "" });
    expect(a.scope.ready()).toBe(true);
    expect(a.events.filter((e) => e.failure && e.pod?.namespace === "team-c").map((e) => e.id)).toEqual([
      `${ok.uid}/app/0/CrashLoopBackOff`,
    ]);
  });
});
