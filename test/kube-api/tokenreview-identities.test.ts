/**
 * TokenReview as the aggregator uses it: configured tokens map to identities,
 * a pod-bound service-account token reports its pod and node in `extra`, and
 * audiences are honoured like the real authenticator.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, serviceAccountToken, startKubeApi } from "./index.ts";
import { call } from "./testing.ts";

const review = (api: KubeApi, token: string, audiences?: string[]) =>
  call(api, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token, ...(audiences ? { audiences } : {}) },
    },
  });

describe("TokenReview", () => {
  let api: KubeApi;
  const agent = serviceAccountToken({
    token: "agent-token",
    namespace: "kernel-gossip",
    name: "agent",
    podName: "agent-x1",
    podUid: "0000-1111",
    nodeName: "node-a",
    audiences: ["kernel-gossip"],
  });
  beforeAll(async () => {
    api = await startKubeApi({ tokens: [agent, { token: "static", username: "demo", groups: ["devs"] }] });
  });
  afterAll(() => api.close());

  it("authenticates a pod-bound service-account token with its node in extra", async () => {
    const r = await review(api, "agent-token", ["kernel-gossip"]);
    expect(r.status).toBe(201);
    expect(r.json.status).toMatchObject({
      authenticated: true,
      audiences: ["kernel-gossip"],
      user: {
        username: "system:serviceaccount:kernel-gossip:agent",
        groups: ["system:serviceaccounts", "system:serviceaccounts:kernel-gossip", "system:authenticated"],
        extra: {
          "authentication.kubernetes.io/pod-name": ["agent-x1"],
          "authentication.kubernetes.io/pod-uid": ["0000-1111"],
          "authentication.kubernetes.io/node-name": ["node-a"],
        },
      },
    });
  });

  it("rejects a token reviewed for another audience (authenticated omitted, error set)", async () => {
    const r = await review(api, "agent-token", ["other"]);
    expect(r.json.status.authenticated).toBeUndefined();
    expect(r.json.status.error).toContain(
      'token audiences ["kernel-gossip"] is invalid for the target audiences ["other"]',
    );
    const apiAudience = await review(api, "agent-token");
    expect(apiAudience.json.status.authenticated).toBeUndefined();
  });

  it("rejects unknown tokens and serves static ones", async () => {
    expect((await review(api, "nope")).json.status).toMatchObject({
      user: {},
      error: expect.stringContaining("invalid bearer token"),
    });
    expect((await review(api, "static")).json.status).toMatchObject({
      authenticated: true,
      user: { username: "demo", groups: ["devs"] },
    });
  });

  it("a token bound to its pod is invalidated when the pod goes away", async () => {
    const bound = serviceAccountToken({
      token: "bound",
      namespace: "default",
      name: "agent",
      podName: "agent-y",
      podUid: "will-differ",
      nodeName: "node-b",
      audiences: ["kernel-gossip"],
      bindToPod: true,
    });
    api.addToken(bound);
    expect((await review(api, "bound", ["kernel-gossip"])).json.status.error).toBe(
      "[invalid bearer token, service account token has been invalidated]",
    );
    const pod = await call(api, "POST", "/api/v1/namespaces/default/pods", {
      body: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "agent-y" },
        spec: { containers: [{ name: "a", image: "x:1" }] },
      },
    });
    api.addToken({
      ...bound,
      boundPod: { namespace: "default", name: "agent-y", uid: pod.json.metadata.uid },
    });
    expect((await review(api, "bound", ["kernel-gossip"])).json.status.authenticated).toBe(true);
    await call(api, "DELETE", "/api/v1/namespaces/default/pods/agent-y");
    expect((await review(api, "bound", ["kernel-gossip"])).json.status.authenticated).toBeUndefined();
  });

  it("configured tokens also authenticate API requests", async () => {
    expect((await call(api, "GET", "/api/v1/namespaces", { token: "static" })).status).toBe(200);
  });
});
