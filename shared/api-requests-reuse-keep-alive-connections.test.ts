// client-node 2.x builds a new undici Agent (a new TCP + TLS connection) for every request;
// loadKubeConfig's KeepAliveKubeConfig makes the typed clients share one pool, so the
// aggregator's writes reuse connections (the local API server counts accepted sockets).
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeCrClient } from "../aggregator/emit/kube.ts";
import { type KubeApi, startKubeApi } from "../test/kube-api/index.ts";
import { KeepAliveKubeConfig, loadKubeConfig } from "./kube.ts";

let api: KubeApi;
beforeAll(async () => {
  api = await startKubeApi();
}, 60_000);
afterAll(async () => {
  await api?.close();
});

const accepted = () => api.counters.get("accept", "connections");

describe("API requests over keep-alive connections", () => {
  it("30 sequential requests of two typed clients open no new TLS connection", async () => {
    const kc = loadKubeConfig(api.kubeconfigPath);
    expect(kc).toBeInstanceOf(KeepAliveKubeConfig);
    const core = kc.makeApiClient(CoreV1Api);
    const cm = kubeCrClient(kc);
    // undici may open a second connection around the first exchange; after that, none
    await core.readNamespace({ name: "default" });
    await core.readNamespace({ name: "default" });
    const before = accepted();
    for (let i = 0; i < 15; i++) {
      await core.readNamespace({ name: "default" });
      expect(await cm.get("kernelwhispers", "default", `missing-${i}`)).toBeUndefined();
    }
    // the whisper GETs 404 (no CRD installed here): errors keep the connection too
    expect(accepted() - before).toBe(0);
    expect((kc as KeepAliveKubeConfig).pools).toBe(1);
  });

  it("client-node's own KubeConfig opens one connection per request (why the subclass exists)", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const before = accepted();
    for (let i = 0; i < 5; i++) await core.readNamespace({ name: "default" });
    expect(accepted() - before).toBe(5);
  });
});
