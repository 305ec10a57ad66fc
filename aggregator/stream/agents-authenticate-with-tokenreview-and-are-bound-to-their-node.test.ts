import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { failureEvent } from "../../agent/link/testing/memory-outbox.ts";
import { ManualClock } from "../../shared/clock.ts";
import { loadKubeConfig } from "../../shared/kube.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { decodeEnvelope, type Envelope, encodeEnvelope } from "../../shared/proto.ts";
import { type KubeApi, serviceAccountToken, startKubeApi } from "../../test/kube-api/index.ts";
import {
  createStreamMetrics,
  createTokenReviewAuthenticator,
  type StreamServer,
  startStreamServer,
} from "./index.ts";

const SA = { namespace: "kernel-gossip", name: "kernel-gossip-agent" };
const agentA = serviceAccountToken({
  ...SA,
  podName: "agent-a",
  podUid: "uid-a",
  nodeName: "node-a",
  audiences: ["kernel-gossip"],
});
const wrongAudience = serviceAccountToken({ ...SA, podName: "agent-b", podUid: "uid-b", nodeName: "node-b" });
const otherAccount = serviceAccountToken({
  namespace: "shop",
  name: "default",
  podName: "cart",
  podUid: "uid-c",
  nodeName: "node-a",
  audiences: ["kernel-gossip"],
});
// A token without the node-name extra (older clusters): the node comes from the pod.
const podBoundExtra: Record<string, string[]> = {
  "authentication.kubernetes.io/pod-name": ["agent-c"],
  "authentication.kubernetes.io/pod-uid": ["uid-agent-c"],
};
const podBound = {
  ...serviceAccountToken({
    ...SA,
    podName: "agent-c",
    podUid: "uid-agent-c",
    nodeName: "x",
    audiences: ["kernel-gossip"],
  }),
  extra: podBoundExtra,
};

let api: KubeApi;
let server: StreamServer;
const registry = createRegistry({ defaultMetrics: false });

beforeAll(async () => {
  api = await startKubeApi({ tokens: [agentA, wrongAudience, otherAccount, podBound] });
  const kubeConfig = loadKubeConfig(api.kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: SA.namespace } } });
  const pod = await core.createNamespacedPod({
    namespace: SA.namespace,
    body: {
      metadata: { name: "agent-c" },
      spec: { nodeName: "node-c", containers: [{ name: "agent", image: "kernel-gossip:dev" }] },
    },
  });
  podBoundExtra["authentication.kubernetes.io/pod-uid"] = [pod.metadata?.uid ?? ""];
  const metrics = createStreamMetrics(registry);
  server = await startStreamServer({
    port: 0,
    host: "127.0.0.1",
    auth: createTokenReviewAuthenticator({
      kubeConfig,
      audience: "kernel-gossip",
      serviceAccount: `system:serviceaccount:${SA.namespace}:${SA.name}`,
      cacheTtlMs: 60_000,
      clock: new ManualClock(),
      log: silentLogger(),
      metrics,
    }),
    handler: { handleBatch: async () => ({ dropped: 0 }) },
    clock: new ManualClock(),
    log: silentLogger(),
    metrics,
    limits: {
      maxPayloadBytes: 1 << 20,
      maxBatchEvents: 100,
      maxEventsPerSecond: 1000,
      maxConnections: 10,
      heartbeatIntervalMs: 60_000,
    },
  });
});
afterAll(async () => {
  await server?.close();
  await api?.close();
});

/** Connects with a token; resolves with the HTTP refusal or the frames received until close. */
function connect(token: string | undefined, frames: Uint8Array[] = []) {
  return new Promise<{ status?: number; code?: string; received: Envelope[]; closeCode?: number }>(
    (resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/stream`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      const received: Envelope[] = [];
      ws.on("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, code: JSON.parse(body).code, received });
          ws.terminate();
        });
      });
      ws.on("error", () => {});
      ws.on("open", () => {
        for (const f of frames) ws.send(f);
      });
      ws.on("message", (d: Buffer) => {
        const envelope = decodeEnvelope(d);
        received.push(envelope);
        if (envelope.ack) ws.close();
      });
      ws.on("close", (closeCode) => resolve({ received, closeCode }));
    },
  );
}

const hello = (node: string) => encodeEnvelope({ hello: { node, protocolVersion: 1 } });
const batch = (node: string) => encodeEnvelope({ batch: { seq: 1, events: [failureEvent(1, node)] } });

async function counted(name: string, label: string, value: string): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.filter((v) => v.labels[label] === value).reduce((n, v) => n + v.value, 0);
}

describe("TokenReview authentication", () => {
  it("accepts the agent's projected token, binds it to its node and acks its batch", async () => {
    const result = await connect(agentA.token, [hello("node-a"), batch("node-a")]);
    expect(result.received.map((e) => e.body)).toEqual(["ack"]);
    expect(await counted("kernel_gossip_aggregator_token_reviews_total", "outcome", "authenticated")).toBe(1);
    const again = await connect(agentA.token, [hello("node-a"), batch("node-a")]);
    expect(again.received.map((e) => e.body)).toEqual(["ack"]);
    expect(await counted("kernel_gossip_aggregator_token_reviews_total", "outcome", "cached")).toBe(1);
  });

  it.each([
    ["no token", undefined, 401, "KG_AUTH_MISSING"],
    ["a wrong token", "not-a-token", 401, "KG_AUTH_INVALID"],
    ["a token for the wrong audience", wrongAudience.token, 401, "KG_AUTH_INVALID"],
    ["another service account's token", otherAccount.token, 403, "KG_AUTH_FORBIDDEN"],
  ])("refuses %s before the upgrade and counts it", async (_what, token, status, code) => {
    const before = await counted("kernel_gossip_aggregator_rejects_total", "code", code);
    const result = await connect(token);
    expect({ status: result.status, code: result.code }).toEqual({ status, code });
    expect(await counted("kernel_gossip_aggregator_rejects_total", "code", code)).toBe(before + 1);
  });

  it("rejects an agent reporting a pod on another node and counts it", async () => {
    const before = await counted("kernel_gossip_aggregator_rejects_total", "code", "KG_NODE_MISMATCH");
    const result = await connect(agentA.token, [hello("node-a"), batch("node-b")]);
    expect(result.received.map((e) => e.reject?.code)).toEqual(["KG_NODE_MISMATCH"]);
    expect(result.closeCode).toBe(4403);
    const claims = await connect(agentA.token, [hello("node-b")]);
    expect(claims.received.map((e) => e.reject?.code)).toEqual(["KG_NODE_MISMATCH"]);
    expect(await counted("kernel_gossip_aggregator_rejects_total", "code", "KG_NODE_MISMATCH")).toBe(
      before + 2,
    );
  });

  it("finds the node through the token's pod when the token carries no node name", async () => {
    const ok = await connect(podBound.token, [hello("node-c"), batch("node-c")]);
    expect(ok.received.map((e) => e.body)).toEqual(["ack"]);
  });

  it("sends one TokenReview for a token that several connections present at once", async () => {
    const fresh = serviceAccountToken({
      ...SA,
      podName: "agent-e",
      podUid: "uid-e",
      nodeName: "node-e",
      audiences: ["kernel-gossip"],
    });
    api.addToken(fresh);
    const before = api.counters.get("create", "tokenreviews");
    const results = await Promise.all(
      Array.from({ length: 5 }, () => connect(fresh.token, [hello("node-e"), batch("node-e")])),
    );
    expect(results.map((r) => r.received.map((e) => e.body))).toEqual(Array(5).fill(["ack"]));
    expect(api.counters.get("create", "tokenreviews") - before).toBe(1);
  });

  it("answers 503 KG_AUTH_UNAVAILABLE while the TokenReview API fails, and recovers", async () => {
    const fresh = serviceAccountToken({
      ...SA,
      podName: "agent-d",
      podUid: "uid-d",
      nodeName: "node-d",
      audiences: ["kernel-gossip"],
    });
    api.addToken(fresh);
    api.faults.failNext({ verb: "create", resource: "tokenreviews", status: 500, count: 1 });
    const down = await connect(fresh.token);
    expect({ status: down.status, code: down.code }).toEqual({ status: 503, code: "KG_AUTH_UNAVAILABLE" });
    const up = await connect(fresh.token, [hello("node-d"), batch("node-d")]);
    expect(up.received.map((e) => e.body)).toEqual(["ack"]);
  });
});
