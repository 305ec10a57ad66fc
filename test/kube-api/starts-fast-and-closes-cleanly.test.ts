/**
 * Many servers start quickly side by side, each on its own ephemeral port with
 * its own kubeconfig, and close() ends their watches and frees the port.
 */
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { startKubeApi } from "./index.ts";
import { call, watch } from "./testing.ts";

describe("lifecycle", () => {
  it("starts in well under a second, several at once", async () => {
    const t0 = performance.now();
    const apis = await Promise.all([startKubeApi(), startKubeApi(), startKubeApi()]);
    const ms = performance.now() - t0;
    console.log(`3 kube-api servers started in ${ms.toFixed(0)} ms`);
    const single = performance.now();
    const one = await startKubeApi();
    console.log(`one kube-api server started in ${(performance.now() - single).toFixed(1)} ms`);
    apis.push(one);
    expect(new Set(apis.map((a) => a.url)).size).toBe(4);
    expect(new Set(apis.map((a) => a.kubeconfigPath)).size).toBe(4);
    for (const a of apis) expect((await call(a, "GET", "/version")).json.gitVersion).toBe("v1.32.0");
    await Promise.all(apis.map((a) => a.close()));
  });

  it("close() ends open watches, frees the port and removes its temp kubeconfig", async () => {
    const api = await startKubeApi();
    const w = watch(api, "/api/v1/pods?watch=true");
    expect(await w.status).toBe(200);
    await api.close();
    expect(await w.ended).toMatch(/end|error/);
    expect(existsSync(api.kubeconfigPath)).toBe(false);
    const port = Number(new URL(api.url).port);
    await new Promise<void>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => s.close(() => resolve()));
    });
  });
});
