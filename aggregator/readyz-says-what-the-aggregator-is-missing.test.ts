// Issue 17, finding 3: the aggregator's /readyz answered 200 whatever happened. Now it is
// ready only with the API server reachable, both CRDs established (served) and the stream
// endpoint listening, and the body says what is missing and what to do.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { systemClock } from "../shared/clock.ts";
import { silentLogger } from "../shared/log.ts";
import { createRegistry } from "../shared/metrics.ts";
import { parseOptions } from "../shared/options.ts";
import { startKubeApi } from "../test/kube-api/index.ts";
import { startAggregator } from "./main.ts";
import { AGGREGATOR_OPTIONS } from "./options/index.ts";

const exec = promisify(execFile);
const repo = fileURLToPath(new URL("..", import.meta.url));

describe("aggregator /readyz", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it("is 503 with the reason until the CRDs are established, 200 then, 503 naming the URL and cause when the API server goes away", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kg-readyz-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const api = await startKubeApi({ kubeconfigPath: join(dir, "kubeconfig.yaml") });
    let apiOpen = true;
    cleanups.push(async () => apiOpen && api.close());
    const aggregator = await startAggregator(
      parseOptions(AGGREGATOR_OPTIONS, [], {
        KUBECONFIG: api.kubeconfigPath,
        STREAM_PORT: "0",
        METRICS_PORT: "0",
        AUTH_MODE: "static",
        STATIC_TOKENS: "t=n1",
      }),
      { log: silentLogger(), registry: createRegistry(), clock: systemClock, readinessIntervalMs: 200 },
    );
    cleanups.push(() => aggregator.stop());
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${aggregator.metricsPort}/readyz`);
      return `${res.status} ${await res.text()}`.trim();
    };

    await expect
      .poll(readyz, { timeout: 30_000, interval: 100 })
      .toBe(
        "503 not ready: CRDs not established: the API server does not serve kernelwhispers.kernel.gossip.io, podbirthcertificates.kernel.gossip.io; apply crds/ (kubectl apply -f crds/)",
      );

    await exec("kubectl", ["--kubeconfig", api.kubeconfigPath, "apply", "-f", "crds/"], { cwd: repo });
    await expect.poll(readyz, { timeout: 30_000, interval: 100 }).toBe("200 ok");

    const url = new URL(api.url);
    await api.close();
    apiOpen = false;
    await expect
      .poll(readyz, { timeout: 30_000, interval: 100 })
      .toMatch(
        new RegExp(
          `^503 not ready: API server unreachable: GET https://${url.host}/apis/kernel\\.gossip\\.io/v1alpha1: fetch failed: .*ECONNREFUSED`,
        ),
      );
  }, 120_000);
});
