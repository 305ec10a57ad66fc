// The ingest measurement itself, run by bench/ingest/index.ts in its own Node process started
// with the aggregator Deployment's NODE_OPTIONS (the V8 heap flags change what garbage
// collection costs), and printing its samples as one JSON line.
//
// The path is production's, from a batch frame's bytes to the fold: the frames are what an
// agent sends a current aggregator (agent/link buildBatch, with the per-batch pod table), read
// by the connection's FrameHandler (decode, pod table, node binding of the claim, every field
// check), handed over by the connection's own handOver (per-type counters, the batch context
// with the agent's instance id and seq, so the delivery ledger is kept) to the real
// BatchPipeline with the aggregator's default options (--verify-pods on: every event's pod
// checked against the API server's, cached), against the local API server. The writes are
// not part of the figure — the coalescer absorbs the stream, as in production — so a batch
// counts as ingested when all its events have been folded into their objects' pending
// writes (CrWriter.submit returned for each). Floor: decodeEnvelope of the same frame,
// interleaved (first on even rounds, second on odd ones).
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import { buildBatch } from "../../agent/link/unacked.ts";
import { journalName, kubeJournalStore } from "../../aggregator/journal/index.ts";
import { AGGREGATOR_OPTIONS } from "../../aggregator/options/index.ts";
import type { BatchPipeline } from "../../aggregator/pipeline/index.ts";
import { createPipelineMetrics } from "../../aggregator/pipeline/metrics.ts";
import { type ObjectWait, StateWait } from "../../aggregator/pipeline/object-waits.ts";
import { FrameHandler } from "../../aggregator/stream/frame-handler.ts";
import { handOver } from "../../aggregator/stream/handoff.ts";
import { createStreamMetrics } from "../../aggregator/stream/metrics.ts";
import type { ConnectionInfo } from "../../aggregator/stream/types.ts";
import { createPipeline } from "../../aggregator/wiring.ts";
import { replicaLeaseName, WRITE_BUDGET_FAMILY } from "../../aggregator/write-budget/index.ts";
import { systemClock } from "../../shared/clock.ts";
import { loadKubeConfig } from "../../shared/kube.ts";
import { silentLogger } from "../../shared/log.ts";
import { createRegistry } from "../../shared/metrics.ts";
import { parseOptions } from "../../shared/options.ts";
import {
  CAPABILITY_BATCH_POD_TABLE,
  decodeEnvelope,
  encodeEnvelope,
  PROTOCOL_VERSION,
  ThrottleState,
  type WireEvent,
} from "../../shared/proto.ts";
import { type BenchKube, startBenchKube } from "../cluster/kube.ts";
import { mixEvents } from "../events/mix.ts";
import { tempDir } from "../proc/child.ts";
import { runSecondsByThread } from "../proc/stat.ts";
import { consume } from "../stats.ts";
import { seedCluster } from "./seed.ts";

export const NODE = "ip-10-0-12-34.eu-west-1.compute.internal";
export const BATCH = 1_000;
const SEED = 11;
const PODS = 110;

export interface IngestSamples {
  /** Per measured batch: events/s through our path, and through decode alone. */
  ours: number[];
  floor: number[];
  /** The same per CPU-second of this process (all its threads, garbage collection included). */
  oursCpu: number[];
  floorCpu: number[];
  enrichHits: number;
  enrichMisses: number;
  enrichFallbacks: number;
  podTableEntries: number;
  frameBytes: number;
  /** The journal's ConfigMap writes during the run (by outcome) and changes that did not fit. */
  journalWrites: Record<string, number>;
  journalFallbacks: number;
  nodeOptions: string;
  /** Garbage collection pauses of the main thread during the measured rounds (ours and floor), ms. */
  gc: { minorMs: number; majorMs: number; minor: number; major: number; measuredMs: number };
  /**
   * CPU seconds of this process's threads over the measured rounds (ours, the floor's and the
   * turns between them), by thread name: the main thread, and V8's helper threads (parallel
   * scavenges, concurrent marking and sweeping, optimizing compiles) — which the per CPU-second
   * figures include.
   */
  threads: Record<string, number>;
}

export async function measureIngest(rounds: number, warmup: number): Promise<IngestSamples> {
  const tmp = tempDir("ingest");
  let kube: BenchKube | undefined;
  let pipeline: BatchPipeline | undefined;
  try {
    kube = await startBenchKube(tmp.path);
    const refs = await seedCluster(kube, { seed: SEED, pods: PODS, node: NODE });
    const registry = createRegistry({ defaultMetrics: false });
    const metrics = createPipelineMetrics(registry);
    const streamMetrics = createStreamMetrics(registry);
    // The aggregator's pipeline as startAggregator builds it (aggregator/wiring.ts), on its
    // defaults: node binding on, the pods exist.
    const defaults = parseOptions(AGGREGATOR_OPTIONS, [], { CLUSTER_NAME: "bench", SHUTDOWN_TIMEOUT: "1s" });
    const kubeConfig = loadKubeConfig(kube.api.kubeconfigPath);
    pipeline = createPipeline(defaults, {
      kubeConfig,
      clock: systemClock,
      log: silentLogger(),
      metrics,
      identity: "bench",
    });
    pipeline.start();
    // And its write-ahead journal, as aggregator/main.ts starts it (ADR 0014): counted changes
    // are held in it and written to its ConfigMap. One replica: no orphaned journals to judge.
    const lease = replicaLeaseName("bench");
    await pipeline
      .startJournal({
        store: kubeJournalStore(kubeConfig, defaults.podNamespace),
        name: journalName(lease, WRITE_BUDGET_FAMILY),
        lease,
        alive: () => true,
        orphanCheckMs: defaults.leaseDuration,
      })
      .start();

    // A batch is in once the events folded into the writer are all of it: a batch's own
    // waiter (ObjectWait.events) counts at its submit; the state folds of named episodes
    // share one waiter per object, which takes the batch's waiter over (absorb) after the
    // submit, so those count there.
    const writer = pipeline.writer;
    const submit = writer.submit.bind(writer);
    let folded = 0;
    let reached: (() => void) | undefined;
    const count = (events: number): void => {
      folded += events;
      if (folded >= BATCH && reached) {
        const resolve = reached;
        reached = undefined;
        resolve();
      }
    };
    // Fixed parameters, not a rest array per submit: the hook adds as little as it can to the path.
    type Submit = typeof submit;
    writer.submit = ((
      key: Parameters<Submit>[0],
      create: Parameters<Submit>[1],
      change: Parameters<Submit>[2],
      waiter: Parameters<Submit>[3],
    ) => {
      submit(key, create, change, waiter);
      const w = waiter as { events?: number; shared?: boolean };
      if (!w.shared) count(w.events ?? 0);
    }) as Submit;
    const absorb = StateWait.prototype.absorb;
    StateWait.prototype.absorb = function (this: StateWait, wait: ObjectWait): void {
      absorb.call(this, wait);
      count(wait.events);
    };

    const frames = new FrameHandler({
      boundNode: NODE,
      limits: {
        maxPayloadBytes: defaults.maxPayloadBytes,
        maxBatchEvents: defaults.maxBatchEvents,
        // One connection stands for the many that share a replica's core.
        maxEventsPerSecond: Number.MAX_SAFE_INTEGER,
      },
      clock: systemClock,
    });
    const instance = randomUUID();
    const hello = frames.handle(
      encodeEnvelope({
        hello: {
          node: NODE,
          cluster: "bench",
          protocolVersion: PROTOCOL_VERSION,
          agentVersion: "bench",
          instanceId: instance,
          capabilities: [CAPABILITY_BATCH_POD_TABLE],
        },
      }),
      true,
    );
    if (hello.kind !== "hello") throw new Error(`FrameHandler refused Hello: ${JSON.stringify(hello)}`);
    const info: ConnectionInfo = {
      id: "bench",
      identity: "system:serviceaccount:kernel-gossip:kernel-gossip-agent",
      remoteAddress: "127.0.0.1",
      node: hello.node,
      agentVersion: "bench",
      configVersion: "",
      instance,
    };

    // The events an agent sends about the seeded pods: one ref object per pod (as the pod watch builds).
    // Throttle samples name their episode (CpuThrottle.episode_opened_at_ms) as the agent's do:
    // an "open" sample starts a new episode of its pod and container, updates carry the current one.
    const episodes = new Map<string, number>();
    const template = mixEvents(BATCH, { seed: SEED, pods: PODS, node: NODE }).map((e): WireEvent => {
      const mixUid = e.pod?.uid ?? "";
      const pod = refs.get(mixUid);
      if (!pod) throw new Error(`bench mix event ${e.id} is about a pod that was not seeded`);
      const ev: WireEvent = { ...e, pod, id: (e.id ?? "").replace(mixUid, pod.uid ?? "") };
      if (e.throttle) {
        const key = `${pod.uid}/${e.container}`;
        let opened = episodes.get(key);
        if (opened === undefined || e.throttle.state === ThrottleState.THROTTLE_STATE_OPEN) {
          opened = Number(e.observedAtMs ?? 0);
          episodes.set(key, opened);
        }
        ev.throttle = { ...e.throttle, episodeOpenedAtMs: opened };
      }
      return ev;
    });
    // Distinct ids in every frame: none of them is a redelivery, all go the whole way.
    // Only the frames are kept (their bytes are off the V8 heap, as a socket's are).
    const encoded = Array.from({ length: warmup + rounds }, (_, r) => {
      const batch = buildBatch(
        r + 1,
        template.map((e) => ({ ...e, id: `${e.id}#${r}` })),
        Date.now(),
        { podTable: true },
      );
      if (!batch.podTable) throw new Error("bench frames were built without the pod table");
      return { frame: batch.frame };
    });
    const podTableEntries = decodeEnvelope(encoded[0]?.frame ?? new Uint8Array()).batch?.pods?.length ?? 0;
    const settled: Promise<unknown>[] = [];
    const gc = { minorMs: 0, majorMs: 0, minor: 0, major: 0, measuredMs: 0 };
    const pauses: { at: number; ms: number; minor: boolean }[] = [];
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
        pauses.push({ at: e.startTime, ms: e.duration, minor: kind === constants.NODE_PERFORMANCE_GC_MINOR });
      }
    });
    gcObserver.observe({ entryTypes: ["gc"] });
    let measuredFrom = 0;
    let threads0 = new Map<string, number>();
    const ours: number[] = [];
    const floor: number[] = [];
    const oursCpu: number[] = [];
    const floorCpu: number[] = [];
    // BENCH_INGEST_CPU_PROFILE=<file>: a CPU profile of the measured rounds only (not the set-up);
    // BENCH_INGEST_HEAP_PROFILE=<file>: a sampled profile of what they allocate (kept or not).
    const cpuFile = process.env.BENCH_INGEST_CPU_PROFILE;
    const heapFile = process.env.BENCH_INGEST_HEAP_PROFILE;
    const profile = cpuFile || heapFile ? new Session() : undefined;
    for (const [r, { frame }] of encoded.entries()) {
      if (profile && r === warmup) {
        profile.connect();
        if (cpuFile) {
          await profile.post("Profiler.enable");
          await profile.post("Profiler.setSamplingInterval", { interval: 1000 });
          await profile.post("Profiler.start");
        }
        if (heapFile) {
          await profile.post("HeapProfiler.startSampling", {
            samplingInterval: 4096,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: true,
          });
        }
      }
      const decodeOnly = () => {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        consume(decodeEnvelope(frame).batch?.events?.length);
        return { ms: performance.now() - t0, cpuMs: cpuMsSince(c0) };
      };
      const f1 = r % 2 === 0 ? decodeOnly() : undefined;
      folded = 0;
      const done = new Promise<void>((resolve) => {
        reached = resolve;
      });
      // The deadline's timer is set before the clock starts (it only turns a hang — events
      // dropped instead of folded — into a clear error).
      const deadline = deadlineAfter(60_000);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const outcome = frames.handle(frame, true);
      if (outcome.kind !== "batch")
        throw new Error(`FrameHandler refused batch ${r}: ${JSON.stringify(outcome)}`);
      const { handled } = handOver(pipeline, streamMetrics, info, outcome.seq, outcome.events);
      settled.push(handled.catch(() => undefined));
      const inTime = await Promise.race([done.then(() => true), deadline.passed]);
      if (timeTurn) await turn();
      const t1 = performance.now();
      const cpuMs = cpuMsSince(c0);
      deadline.cancel();
      if (!inTime) {
        const dropped = (await metrics.eventsDropped.get()).values;
        throw new Error(
          `batch ${r}: ${folded} of its ${BATCH} events reached the writer within 60 s; the others were dropped (events_dropped_total ${JSON.stringify(dropped)}) or are still waiting`,
        );
      }
      // One turn of the event loop before the next frame, as a connection's next frame comes
      // in an I/O callback: the timers and I/O due by then run (the writer's and the journal's
      // writes, acks, settled batches' ids moving to the redelivery cache), so the pipeline is
      // in the state production's is — without it a batch folded synchronously never let them
      // run during the measured rounds. Not timed: the figure is frame to fold (BENCHMARKS.md
      // gives the figure with this turn timed too, BENCH_INGEST_TIME_TURN=1).
      if (!timeTurn) await turn();
      const f2 = f1 ?? decodeOnly();
      if (r === warmup - 1) {
        measuredFrom = performance.now();
        threads0 = runSecondsByThread(process.pid);
      }
      if (r < warmup) continue;
      ours.push(BATCH / ((t1 - t0) / 1000));
      floor.push(BATCH / (f2.ms / 1000));
      oursCpu.push(BATCH / (cpuMs / 1000));
      floorCpu.push(BATCH / (f2.cpuMs / 1000));
    }
    if (profile && cpuFile)
      writeFileSync(cpuFile, JSON.stringify((await profile.post("Profiler.stop")).profile));
    if (profile && heapFile) {
      writeFileSync(heapFile, JSON.stringify((await profile.post("HeapProfiler.stopSampling")).profile));
    }
    profile?.disconnect();
    const measuredTo = performance.now();
    const threads: Record<string, number> = {};
    for (const [name, seconds] of runSecondsByThread(process.pid)) {
      const used = seconds - (threads0.get(name) ?? 0);
      if (used > 0) threads[name] = Math.round(used * 1000) / 1000;
    }
    gc.measuredMs = measuredTo - measuredFrom;
    // Entries are delivered after they are queued: let the last ones in.
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const p of pauses) {
      if (p.at < measuredFrom || p.at > measuredTo) continue;
      if (p.minor) {
        gc.minor++;
        gc.minorMs += p.ms;
      } else {
        gc.major++;
        gc.majorMs += p.ms;
      }
    }
    gcObserver.disconnect();
    const sum = async (c: { get(): Promise<{ values: { value: number }[] }> }) =>
      (await c.get()).values.reduce((s, v) => s + v.value, 0);
    const result: IngestSamples = {
      ours,
      floor,
      oursCpu,
      floorCpu,
      enrichHits: await sum(metrics.enrichCacheHits),
      enrichMisses: await sum(metrics.enrichCacheMisses),
      enrichFallbacks: await sum(metrics.enrichFallbacks),
      podTableEntries,
      frameBytes: encoded[0]?.frame.length ?? 0,
      journalWrites: Object.fromEntries(
        (await metrics.journalWrites.get()).values.map((v) => [String(v.labels.outcome), v.value]),
      ),
      journalFallbacks: await sum(metrics.journalFallbacks),
      nodeOptions: process.env.NODE_OPTIONS ?? "",
      gc,
      threads,
    };
    await pipeline.stop().catch(() => undefined);
    pipeline = undefined;
    await Promise.all(settled);
    return result;
  } finally {
    await pipeline?.stop().catch(() => undefined);
    await kube?.close();
    tmp.cleanup();
  }
}

/** Set: the event loop turn after each batch is timed with it (the work it runs counted in the figure). */
const timeTurn = process.env.BENCH_INGEST_TIME_TURN === "1";

/** One turn of the event loop: timers due and I/O callbacks run before it resolves. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** A promise of false after `ms`, unless cancelled first. */
function deadlineAfter(ms: number): { passed: Promise<false>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const passed = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return { passed, cancel: () => clearTimeout(timer) };
}

if (import.meta.main) {
  const [rounds, warmup] = process.argv.slice(2).map(Number);
  const samples = await measureIngest(rounds ?? 60, warmup ?? 10);
  process.stdout.write(`${JSON.stringify(samples)}\n`);
}
