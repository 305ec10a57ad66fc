// Issue 17, finding 5: API failures were logged as `{"message":"fetch failed"}` or
// "HTTP-Code: 500 …" — no method, no URL, the network cause hidden on err.cause. Every
// typed client from loadKubeConfig now fails with a KubeRequestError that names them.
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "../test/kube-api/index.ts";
import { KubeRequestError, loadKubeConfig, statusOf } from "./kube.ts";

describe("API errors", () => {
  let api: KubeApi;
  beforeAll(async () => {
    api = await startKubeApi();
  });
  afterAll(async () => {
    await api?.close();
  });

  it("a refused request names method, URL, status and the server's message, and keeps its status for callers", async () => {
    const core = loadKubeConfig(api.kubeconfigPath).makeApiClient(CoreV1Api);
    const err = await core.readNamespace({ name: "nope" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeRequestError);
    expect((err as Error).message).toBe(
      `GET ${api.url}/api/v1/namespaces/nope: 404 Not Found: namespaces "nope" not found`,
    );
    expect(statusOf(err)).toBe(404);
  });

  it("an injected 429 keeps the Retry-After header callers back off with", async () => {
    api.faults.failNext({ verb: "get", resource: "namespaces", status: 429, count: 1, retryAfterSeconds: 3 });
    const core = loadKubeConfig(api.kubeconfigPath).makeApiClient(CoreV1Api);
    const err = (await core.readNamespace({ name: "default" }).catch((e: unknown) => e)) as KubeRequestError;
    expect(err.message).toMatch(
      new RegExp(`^GET ${api.url}/api/v1/namespaces/default: 429 Too Many Requests`),
    );
    expect(err.headers["retry-after"]).toBe("3");
  });

  it("a server that is gone names the URL and the network cause instead of 'fetch failed'", async () => {
    const other = await startKubeApi();
    const kc = loadKubeConfig(other.kubeconfigPath);
    await other.close();
    const err = await kc
      .makeApiClient(CoreV1Api)
      .listNamespace()
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^GET ${other.url}/api/v1/namespaces: fetch failed: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+$`,
      ),
    );
  });
});
