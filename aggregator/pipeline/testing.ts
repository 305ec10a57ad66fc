// Test helpers for the pipeline's integration tests: a local API server with the CRDs
// applied through the real kubectl, wire events, and a pipeline with test settings.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import { type Clock, systemClock } from "../../shared/clock.ts";
import { loadKubeConfig } from "../../shared/kube.ts";
import { type Logger, silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { parseOptions } from "../../shared/options.ts";
import { OomSource, ThrottleState, type WireEvent } from "../../shared/proto.ts";
import { type KubeApi, type KubeApiOptions, startKubeApi } from "../../test/kube-api/index.ts";
import { AGGREGATOR_OPTIONS } from "../options/index.ts";
import { BatchPipeline, type PipelineOptions, type PipelineSettings } from "./index.ts";
import { createPipelineMetrics } from "./metrics.ts";

const run = promisify(execFile);
export const CRDS_DIR = fileURLToPath(new URL("../../crds/", import.meta.url));

export interface TestCluster {
  api: KubeApi;
  kubeConfig: KubeConfig;
  kubectl(...args: string[]): Promise<string>;
  /** kubectl apply -f - of a YAML document. */
  apply(yaml: string): Promise<string>;
  /** kubectl apply -k crds/ and wait until they are established (done at start unless withoutCrds). */
  installCrds(): Promise<void>;
  close(): Promise<void>;
}

/**
 * startKubeApi, retried when its self-signed certificate comes out malformed: about 2 % of
 * starts fail with "asn1 encoding routines::illegal padding" (test/kube-api/tls.ts can
 * encode the serial number with a non-minimal leading zero byte; reported for a fix).
 */
async function startApiServer(options: KubeApiOptions): Promise<KubeApi> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startKubeApi(options);
    } catch (err) {
      if (attempt >= 5 || !String((err as Error).message).includes("illegal padding")) throw err;
    }
  }
}

export async function startTestCluster(
  options: KubeApiOptions & { withoutCrds?: boolean } = {},
): Promise<TestCluster> {
  const { withoutCrds, ...apiOptions } = options;
  const api = await startApiServer(apiOptions);
  const dir = await mkdtemp(join(tmpdir(), "kg-pipeline-"));
  const kubectl = async (...args: string[]): Promise<string> => {
    const { stdout } = await run("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  };
  let n = 0;
  const apply = async (yaml: string): Promise<string> => {
    const file = join(dir, `doc-${n++}.yaml`);
    await writeFile(file, yaml);
    return kubectl("apply", "-f", file);
  };
  const installCrds = async (): Promise<void> => {
    await kubectl("apply", "-k", CRDS_DIR);
    await kubectl(
      "wait",
      "--for=condition=Established",
      "crd/kernelwhispers.kernel.gossip.io",
      "crd/podbirthcertificates.kernel.gossip.io",
    );
  };
  if (!withoutCrds) await installCrds();
  return {
    installCrds,
    api,
    kubeConfig: loadKubeConfig(api.kubeconfigPath),
    kubectl,
    apply,
    async close() {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The aggregator's own defaults (its options as parsed with nothing set), then what these tests
 * change: a smaller owner cache and redelivery memory, a write rate that never holds a test
 * back, no per-object interval. A new setting needs no edit here.
 */
export const TEST_SETTINGS: PipelineSettings = {
  ...parseOptions(AGGREGATOR_OPTIONS, [], {}),
  ownerCacheSize: 1000,
  redeliveryCacheSize: 100_000,
  writeQps: 100,
  writeBurst: 100,
  objectMinInterval: 0,
  podName: "aggregator-test",
  // These tests stream made-up pods; node binding against real pods is tested in
  // pods-are-bound-to-their-real-node.test.ts.
  verifyPods: false,
};

export function testPipeline(
  kubeConfig: KubeConfig,
  overrides: Partial<Omit<PipelineOptions, "settings">> & { settings?: Partial<PipelineSettings> } = {},
): BatchPipeline {
  const { settings, ...rest } = overrides;
  return new BatchPipeline({
    kubeConfig,
    clock: systemClock as Clock,
    log: silentLogger() as Logger,
    metrics: createPipelineMetrics(createRegistry({ defaultMetrics: false })),
    cluster: "test-cluster",
    retry: { initialMs: 20, maxMs: 200 },
    stopDeadlineMs: 2_000,
    ...rest,
    settings: { ...TEST_SETTINGS, ...settings },
  });
}

export const CTX = { node: "node-1", connectionId: "c1", agentVersion: "test", instance: "", seq: 0 };

export interface TestPod {
  uid: string;
  namespace: string;
  name: string;
  node?: string;
  labels?: Record<string, string>;
  owners?: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean }[];
}

const podRef = (p: TestPod) => ({
  uid: p.uid,
  namespace: p.namespace,
  name: p.name,
  node: p.node ?? "node-1",
  labels: p.labels ?? {},
  owners: p.owners ?? [],
  qosClass: "Burstable",
});

export function crashLoop(p: TestPod, container: string, restartCount: number, at = Date.now()): WireEvent {
  return {
    id: `${p.uid}/${container}/${restartCount}/CrashLoopBackOff`,
    pod: podRef(p),
    container,
    observedAtMs: at,
    count: 1,
    failure: {
      reason: "CrashLoopBackOff",
      exitCode: 1,
      message: "back-off 40s restarting failed container",
      restartCount,
      lastReason: "Error",
      backoffSeconds: 40,
    },
  };
}

export function oomKilled(
  p: TestPod,
  container: string,
  restartCount: number,
  limitBytes: number,
  at = Date.now(),
): WireEvent {
  return {
    id: `${p.uid}/${container}/${restartCount}/OOMKilled`,
    pod: podRef(p),
    container,
    observedAtMs: at,
    count: 1,
    failure: { reason: "OOMKilled", exitCode: 137, restartCount, memoryLimitBytes: limitBytes },
  };
}

export function kernelOom(p: TestPod, container: string, seq: number, at = Date.now()): WireEvent {
  return {
    id: `${p.uid}/${container}/kernel-oom/${seq}`,
    pod: podRef(p),
    container,
    observedAtMs: at,
    count: 1,
    oom: {
      source: OomSource.OOM_SOURCE_KERNEL,
      kills: 1,
      memoryLimitBytes: 256 * 1024 * 1024,
      memoryPeakBytes: 256 * 1024 * 1024,
      mainProcessSurvived: true,
    },
  };
}

export function throttle(
  p: TestPod,
  container: string,
  seq: number,
  state: "open" | "update" | "resolved",
  ratio: number,
  at = Date.now(),
  /** The episode's name (CpuThrottle.episode_opened_at_ms); 0: an agent that names none. */
  episodeOpenedAtMs = 0,
): WireEvent {
  const states = {
    open: ThrottleState.THROTTLE_STATE_OPEN,
    update: ThrottleState.THROTTLE_STATE_UPDATE,
    resolved: ThrottleState.THROTTLE_STATE_RESOLVED,
  };
  return {
    id: `${p.uid}/${container}/throttle/${seq}/${state}`,
    pod: podRef(p),
    container,
    observedAtMs: at,
    count: 1,
    throttle: {
      state: states[state],
      throttledRatio: ratio,
      throttledSeconds: 3.2 * ratio,
      coresUsed: 0.5,
      limitCores: 0.5,
      demandCores: 0.5 + 0.6 * ratio,
      windowSeconds: 10,
      nrPeriods: 100,
      nrThrottled: Math.round(100 * ratio),
      pressureSomeAvg10: 12.5,
      demandSamples: [0.9, 0.95, 1.0],
      nodeCpus: 4,
      demandMethod: "threads",
      episodeOpenedAtMs,
    },
  };
}

export function birth(p: TestPod, at = Date.now()): WireEvent {
  return {
    id: `${p.uid}/birth`,
    pod: podRef(p),
    container: "",
    observedAtMs: at,
    count: 1,
    birth: {
      ready: true,
      createdAtMs: at - 4200,
      totalMs: 4200,
      steps: [
        { name: "scheduled", actor: 2, atMs: at - 4100, durationMs: 100 },
        { name: "initialized", actor: 3, atMs: at - 3900, durationMs: 200 },
        { name: "started", actor: 4, atMs: at - 900, durationMs: 3000, container: "app" },
        { name: "ready", actor: 3, atMs: at, durationMs: 900 },
      ],
      cpuSeconds: 1.25,
      throttledPeriods: 7,
      memoryPeakBytes: 64 * 1024 * 1024,
      processCount: 3,
    },
  };
}

/** Lists custom objects of a resource as JSON through kubectl. */
export async function getJson(
  cluster: TestCluster,
  resource: string,
  namespace?: string,
  // biome-ignore lint/suspicious/noExplicitAny: objects read back through kubectl are untyped JSON
): Promise<Record<string, any>[]> {
  const args = ["get", resource, "-o", "json", ...(namespace ? ["-n", namespace] : ["-A"])];
  return JSON.parse(await cluster.kubectl(...args)).items;
}

/**
 * Whether the API server treats metadata.resourceVersion in a server-side apply to the
 * status subresource as a precondition (a real API server does; the writer's exact
 * cross-replica counts rely on it).
 */
export async function statusApplyHonorsResourceVersion(
  cluster: TestCluster,
  namespace: string,
): Promise<boolean> {
  const { kubeCrClient } = await import("../emit/kube.ts");
  const client = kubeCrClient(cluster.kubeConfig);
  const body = {
    apiVersion: "kernel.gossip.io/v1alpha1",
    kind: "KernelWhisper",
    metadata: { name: "precondition-probe", namespace },
    spec: {
      cluster: "c",
      project: "p",
      workload: { kind: "Pod", name: "x" },
      container: "c",
      signal: "Error",
    },
  };
  const created = (await client.apply("kernelwhispers", body)).object;
  const stale = String(Number(created.metadata.resourceVersion) - 1);
  let honored = false;
  try {
    await client.applyStatus("kernelwhispers", {
      ...body,
      metadata: { ...body.metadata, resourceVersion: stale },
      status: { count: 1 },
    });
  } catch (err) {
    honored = (err as { code?: number }).code === 409;
  }
  await cluster.kubectl("delete", "kw", "-n", namespace, "precondition-probe");
  return honored;
}

/** Creates a real Pod (certificates are owned by it: the garbage collector removes orphans). */
export async function createPod(
  cluster: TestCluster,
  namespace: string,
  name: string,
  node = "node-1",
): Promise<string> {
  await cluster.apply(`
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  nodeName: ${node}
  containers: [{ name: app, image: nginx }]
`);
  return (
    await cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}")
  ).trim();
}
