// Aggregator ingest: events per second through the aggregator's own code on one core —
// frame decode and checks (aggregator/stream FrameHandler) → redelivery dedup → enrichment
// with a warm owner/namespace cache → the coalescing CR writer (aggregator/pipeline
// BatchPipeline). The pipeline is the real one, against the local API server with the
// default write limits (20/s): the writes themselves are not part of the figure — the
// coalescer absorbs the stream, as in production — so an event counts as ingested when it
// has been folded into its object's pending write (CrWriter.submit returned).
// Floor: decoding the same frames alone (shared/proto decodeEnvelope), interleaved.
import { AGGREGATOR_OPTIONS } from "../../aggregator/options/index.ts";
import type { BatchPipeline } from "../../aggregator/pipeline/index.ts";
import { createPipelineMetrics } from "../../aggregator/pipeline/metrics.ts";
import { FrameHandler } from "../../aggregator/stream/frame-handler.ts";
import { createPipeline } from "../../aggregator/wiring.ts";
import { systemClock } from "../../shared/clock.ts";
import { loadKubeConfig } from "../../shared/kube.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { parseOptions } from "../../shared/options.ts";
import { decodeEnvelope, encodeEnvelope, PROTOCOL_VERSION, type WireEvent } from "../../shared/proto.ts";
import { type BenchKube, startBenchKube } from "../cluster/kube.ts";
import { mixEvents, mixPods } from "../events/mix.ts";
import { tempDir } from "../proc/child.ts";
import { consume, round, summarize } from "../stats.ts";
import type { BenchCase, BenchCaseResult, BenchOptions } from "../types.ts";

const NODE = "ip-10-0-12-34.eu-west-1.compute.internal";
const BATCH = 1_000;
const SEED = 11;

/** Pods without the workload/project labels, so enrichment resolves owners and namespaces through its cache. */
function unlabelled(events: WireEvent[]): WireEvent[] {
  return events.map((e) => {
    const labels = { ...(e.pod?.labels ?? {}) };
    delete labels["workload-id"];
    delete labels["project-id"];
    return { ...e, pod: { ...e.pod, labels } };
  });
}

/** The owners and namespaces enrichment will look up: ReplicaSets owned by Deployments. */
async function seedOwners(kube: BenchKube, seed: number): Promise<void> {
  const pods = mixPods({ seed, pods: 110, node: NODE });
  for (const ns of new Set(pods.map((p) => p.ref.namespace ?? ""))) {
    await kube.request("POST", "/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { "project-id": `proj-${ns}` } },
    });
  }
  const seen = new Set<string>();
  const deployments = new Map<string, { metadata: { uid: string } }>();
  for (const pod of pods) {
    const owner = pod.ref.owners?.[0];
    const key = `${pod.ref.namespace}/${owner?.name}`;
    if (!owner || seen.has(key)) continue;
    seen.add(key);
    const labels = { app: pod.workload, "pod-template-hash": pod.ref.labels?.["pod-template-hash"] ?? "" };
    const template = {
      metadata: { labels },
      spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
    };
    // The Deployment first: the API server's garbage collector removes a ReplicaSet whose owner does not exist.
    const deploymentKey = `${pod.ref.namespace}/${pod.workload}`;
    let deployment = deployments.get(deploymentKey);
    if (!deployment) {
      deployment = (await kube.request("POST", `/apis/apps/v1/namespaces/${pod.ref.namespace}/deployments`, {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: pod.workload, namespace: pod.ref.namespace, labels: { app: pod.workload } },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: pod.workload } },
          template: { ...template, metadata: { labels: { app: pod.workload } } },
        },
      })) as { metadata: { uid: string } };
      deployments.set(deploymentKey, deployment);
    }
    await kube.request("POST", `/apis/apps/v1/namespaces/${pod.ref.namespace}/replicasets`, {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: owner.name,
        namespace: pod.ref.namespace,
        labels,
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: pod.workload,
            uid: deployment.metadata.uid,
            controller: true,
          },
        ],
      },
      spec: { replicas: 1, selector: { matchLabels: labels }, template },
    });
  }
}

export async function run({ quick }: BenchOptions): Promise<BenchCaseResult> {
  const rounds = quick ? 8 : 60;
  const warmup = quick ? 2 : 10;
  const tmp = tempDir("ingest");
  let kube: BenchKube | undefined;
  let pipeline: BatchPipeline | undefined;
  try {
    kube = await startBenchKube(tmp.path);
    await seedOwners(kube, SEED);
    const kubeConfig = loadKubeConfig(kube.api.kubeconfigPath);
    const metrics = createPipelineMetrics(createRegistry({ defaultMetrics: false }));
    // The aggregator's pipeline as startAggregator builds it, on its defaults; synthetic agents
    // report made-up pods (no pod objects exist), so node binding is off.
    const options = parseOptions(AGGREGATOR_OPTIONS, [], {
      CLUSTER_NAME: "bench",
      VERIFY_PODS: "false",
      SHUTDOWN_TIMEOUT: "1s",
    });
    pipeline = createPipeline(options, {
      kubeConfig,
      clock: systemClock,
      log: silentLogger(),
      metrics,
      identity: "bench",
    });
    pipeline.start();
    // A batch has reached the coalescer when its changes have been submitted to the writer:
    // the pipeline enriches every event of the batch, then submits them (one change per
    // object) in one synchronous pass, so a microtask queued at the first submit runs once
    // the whole batch is in.
    const writer = pipeline.writer;
    const submit = writer.submit.bind(writer);
    let submitted = 0;
    let reached: (() => void) | undefined;
    writer.submit = ((...args: Parameters<typeof submit>) => {
      const out = submit(...args);
      submitted++;
      const resolve = reached;
      if (resolve) {
        reached = undefined;
        queueMicrotask(resolve);
      }
      return out;
    }) as typeof writer.submit;

    const frames = new FrameHandler({
      limits: {
        maxPayloadBytes: 64 << 20,
        maxBatchEvents: 10_000,
        maxEventsPerSecond: Number.MAX_SAFE_INTEGER,
      },
      clock: systemClock,
    });
    frames.handle(
      encodeEnvelope({ hello: { node: NODE, cluster: "bench", protocolVersion: PROTOCOL_VERSION } }),
      true,
    );
    const template = unlabelled(mixEvents(BATCH, { seed: SEED, pods: 110, node: NODE }));
    // Distinct ids in every frame: none of them is a redelivery, all go the whole way.
    const encoded = Array.from({ length: warmup + rounds }, (_, r) =>
      encodeEnvelope({
        batch: {
          seq: r + 1,
          events: template.map((e) => ({ ...e, id: `${e.id}#${r}` })),
          sentAtMs: Date.now(),
        },
      }),
    );
    const ctx = { node: NODE, connectionId: "bench", agentVersion: "bench" };
    const settled: Promise<unknown>[] = [];
    const ours: number[] = [];
    const floor: number[] = [];
    for (const [r, frame] of encoded.entries()) {
      // Floor first on even rounds, second on odd ones.
      const decodeOnly = () => {
        const t0 = performance.now();
        consume(decodeEnvelope(frame).batch?.events?.length);
        return performance.now() - t0;
      };
      const f1 = r % 2 === 0 ? decodeOnly() : undefined;
      const before = submitted;
      const done = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const t0 = performance.now();
      const outcome = frames.handle(frame, true);
      if (outcome.kind !== "batch")
        throw new Error(`FrameHandler refused batch ${r}: ${JSON.stringify(outcome)}`);
      settled.push(pipeline.handleBatch(ctx, outcome.events).catch(() => undefined));
      // Every event of the frame reaches the coalescer (none is a redelivery or invalid).
      // (The timeout only turns a hang into a clear error.)
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        done,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `batch ${r}: its events did not reach the writer within 60 s (${submitted - before} submits)`,
                ),
              ),
            60_000,
          );
        }),
      ]);
      clearTimeout(timer);
      const t1 = performance.now();
      const f2 = f1 ?? decodeOnly();
      if (r < warmup) continue;
      ours.push(BATCH / ((t1 - t0) / 1000));
      floor.push(BATCH / (f2 / 1000));
    }
    const o = summarize(ours);
    const f = summarize(floor);
    const ratio = o.median / f.median;
    const hits = (await metrics.enrichCacheHits.get()).values.reduce((s, v) => s + v.value, 0);
    const misses = (await metrics.enrichCacheMisses.get()).values.reduce((s, v) => s + v.value, 0);
    const fallbacks = (await metrics.enrichFallbacks.get()).values.reduce((s, v) => s + v.value, 0);
    await pipeline.stop().catch(() => undefined);
    pipeline = undefined;
    await Promise.all(settled);
    return {
      name: "aggregator ingest",
      rows: [
        {
          figure: "events/s, decode → dedup → enrich → coalescer",
          value: round(o.median),
          p99: round(percentile1(ours)),
          unit: "ev/s",
          floor: round(f.median),
          ratio: round(ratio),
          target: "≥ 200,000 ev/s and ≥ 0.3× floor",
          pass: o.median >= 200_000 && ratio >= 0.3,
          note: `per 1,000-event batch, ${o.n} batches after ${warmup} warm-up (p99 column = the slow tail: 1st percentile of the rates); real BatchPipeline against the local API server, writes rate-limited 20/s; enrichment cache ${hits} hits / ${misses} misses, ${fallbacks} fallbacks; floor = decodeEnvelope of the same frames`,
        },
      ],
    };
  } finally {
    await pipeline?.stop().catch(() => undefined);
    await kube?.close();
    tmp.cleanup();
  }
}

function percentile1(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length * 0.01)] ?? Number.NaN;
}

export const ingest = { id: "ingest", run } satisfies BenchCase;
