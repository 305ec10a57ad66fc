// Load generator for the fan-in case: `agents` simulated agents, each a real WebSocket
// client (ws, deflate off) that authenticates, sends Hello, then one real protobuf Batch
// every `intervalMs` (starts staggered over the interval, like agents started at random
// times). Run as a child process so its work is not charged to the aggregator or the
// bench process. Agent i connects to urls[i % urls.length] (several replicas behind a
// Service). Each batch is classed by the kind its ack waits for (ADR 0011): "failure" when it
// carries a failure or OOM event, else "birth" when it carries a birth, else "throttle".
// Throttle samples name their episode (CpuThrottle.episode_opened_at_ms) like the real agent:
// an "open" sample of the mix starts a new episode of its pod and container, an "update"
// continues the current one (or starts one, if the pod has none yet); the exact-count check
// expects each episode counted once, when the first acked batch carries one of its samples.
// It speaks the wire protocol directly and is not built from the agent's factories
// (agent/delivery.ts): a thousand real links would each keep an outbox, a delivery window, a
// heartbeat timer and a metrics registry in this one process, whose CPU and event-loop delay
// are part of every ack latency it measures, and they would send pod tables, so the frames
// would no longer be those the BENCHMARKS.md rows were measured with.
// Prints one JSON line per state change on stdout:
//   {"ready":true,"connected":N}   once every agent has sent Hello
//   {"stats":{...}}                on SIGTERM: stops sending, waits up to drainMs for the
//                                  acks still due, reports, exits
//
//   node bench/fan-in/load.ts '<json LoadOptions>'
import { randomUUID } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import WebSocket from "ws";
import {
  decodeEnvelope,
  encodeEnvelope,
  PROTOCOL_VERSION,
  ThrottleState,
  type WireEvent,
} from "../../shared/proto.ts";
import { mixEvents } from "../events/mix.ts";

export type BatchKind = "throttle" | "birth" | "failure";

export interface LoadOptions {
  /** The aggregator replicas' stream URLs. */
  urls: string[];
  token: string;
  agents: number;
  /** Index of the first simulated node (node names are `<nodePrefix><index>`). */
  first: number;
  nodePrefix: string;
  eventsPerBatch: number;
  intervalMs: number;
  /** Connections opened at once while ramping up. */
  rampConcurrency: number;
  /** On SIGTERM, how long to wait for the acks still due before reporting. */
  drainMs: number;
}

export interface LoadStats {
  connected: number;
  batchesSent: number;
  eventsSent: number;
  acks: number;
  /** Batches sent and never acked (after the drain). */
  unacked: number;
  rejects: Record<string, number>;
  closes: number;
  errors: number;
  /** Send → Ack per batch, by the kind its ack waits for. */
  ackLatencyMs: Record<BatchKind, number[]>;
  /** When each of those batches was sent (wall clock ms, same order): the bench picks its window. */
  ackSentAtMs: Record<BatchKind, number[]>;
  /** What the acked batches add to whisper counts, by signal (exact-count check). */
  countedAcked: Record<string, number>;
  /** This process's own event-loop delay (it delays every ack it measures). */
  loopDelayMs: { p50: number; p99: number };
}

/** The whisper signal a failure or OOM event counts in and how much (throttle samples count by episode). */
function counts(ev: WireEvent): [string, number] | undefined {
  if (ev.failure) return [ev.failure.reason === "OOMKilled" ? "OOMKilled" : "CrashLoopBackOff", 1];
  if (ev.oom) return ["OOMKilled", Math.max(1, Number(ev.oom.kills ?? 1))];
  return undefined;
}

function kindOf(events: readonly WireEvent[]): BatchKind {
  if (events.some((e) => e.failure || e.oom)) return "failure";
  return events.some((e) => e.birth) ? "birth" : "throttle";
}

// Steady state of a large cluster: mostly throttle updates; births at ~2/s over 1,000 nodes
// (110k pods living about a day), each a PodBirthCertificate write.
const SAMPLE_MIX = { throttle: 0.868, failure: 0.12, birth: 0.002, oom: 0.01 };

function agentEvents(node: string, seed: number): WireEvent[] {
  // A pool of this node's events to send from, each batch with fresh ids and timestamps.
  return mixEvents(200, { seed, node, pods: 110, workloads: 40, mix: SAMPLE_MIX });
}

interface Agent {
  stop(): void;
  /** Stops sending new batches; acks of those sent still arrive. */
  quiesce(): void;
  /** Batches sent and not acked yet. */
  outstanding(): number;
}

function startAgent(options: LoadOptions, index: number, stats: LoadStats, onHello: () => void): Agent {
  const node = `${options.nodePrefix}${index}`;
  const pool = agentEvents(node, index + 1);
  // Like a real agent process (agent/link): one instance id, batches numbered 1, 2, … — the
  // delivery tag the aggregator records in each whisper's ledger (ADR 0008) and its journal.
  const instanceId = randomUUID();
  let seq = 0;
  let cursor = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sending = true;
  const sent = new Map<
    number,
    { at: number; wall: number; kind: BatchKind; counted: [string, number][]; episodes: string[] }
  >();
  /** `<pod uid>/<container>` → its current episode (when it opened); episodes an acked batch carried. */
  const current = new Map<string, number>();
  const countedEpisodes = new Set<string>();
  const url = options.urls[index % options.urls.length] as string;
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    headers: { authorization: `Bearer ${options.token}` },
  });
  const sendBatch = (): void => {
    if (ws.readyState !== WebSocket.OPEN || !sending) return;
    const now = Date.now();
    seq++;
    const events: WireEvent[] = [];
    const episodes: string[] = [];
    for (let k = 0; k < options.eventsPerBatch; k++) {
      const template = pool[cursor++ % pool.length] as WireEvent;
      const ev: WireEvent = { ...template, id: `${template.id}#${seq}.${k}`, observedAtMs: now };
      if (template.throttle) {
        const key = `${template.pod?.uid}/${template.container}`;
        let opened = current.get(key);
        if (opened === undefined || template.throttle.state === ThrottleState.THROTTLE_STATE_OPEN) {
          opened = Math.max(now, (opened ?? 0) + 1);
          current.set(key, opened);
        }
        ev.throttle = { ...template.throttle, episodeOpenedAtMs: opened };
        episodes.push(`${key}/${opened}`);
      }
      events.push(ev);
    }
    const counted: [string, number][] = [];
    for (const e of events) {
      const c = counts(e);
      if (c && c[1] > 0) counted.push(c);
    }
    sent.set(seq, { at: performance.now(), wall: now, kind: kindOf(events), counted, episodes });
    ws.send(encodeEnvelope({ batch: { seq, events, sentAtMs: now } }), { binary: true }, (err) => {
      if (err) stats.errors++;
    });
    stats.batchesSent++;
    stats.eventsSent += events.length;
    timer = setTimeout(sendBatch, options.intervalMs);
  };
  ws.on("open", () => {
    const hello = {
      hello: {
        node,
        cluster: "bench",
        agentVersion: "bench-load",
        protocolVersion: PROTOCOL_VERSION,
        capabilities: [],
        lastAckedSeq: 0,
        configVersion: "",
        cgroupLayout: "v2/systemd",
        instanceId,
      },
    };
    ws.send(encodeEnvelope(hello), { binary: true });
    stats.connected++;
    onHello();
    timer = setTimeout(sendBatch, Math.floor(Math.random() * options.intervalMs));
  });
  ws.on("message", (data: Buffer) => {
    const envelope = decodeEnvelope(data);
    if (envelope.ack) {
      stats.acks++;
      const ackSeq = Number(envelope.ack.seq);
      const batch = sent.get(ackSeq);
      if (batch !== undefined) {
        stats.ackLatencyMs[batch.kind].push(performance.now() - batch.at);
        stats.ackSentAtMs[batch.kind].push(batch.wall);
        for (const [signal, n] of batch.counted)
          stats.countedAcked[signal] = (stats.countedAcked[signal] ?? 0) + n;
        for (const episode of batch.episodes) {
          if (countedEpisodes.has(episode)) continue;
          countedEpisodes.add(episode);
          stats.countedAcked.CPUThrottling = (stats.countedAcked.CPUThrottling ?? 0) + 1;
        }
        sent.delete(ackSeq);
      }
    } else if (envelope.reject) {
      const code = String(envelope.reject.code);
      stats.rejects[code] = (stats.rejects[code] ?? 0) + 1;
    }
  });
  ws.on("error", () => {
    stats.errors++;
  });
  ws.on("close", () => {
    stats.closes++;
    if (timer) clearTimeout(timer);
  });
  return {
    stop() {
      if (timer) clearTimeout(timer);
      ws.terminate();
    },
    quiesce() {
      sending = false;
      if (timer) clearTimeout(timer);
    },
    outstanding: () => sent.size,
  };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? "{}") as LoadOptions;
  const stats: LoadStats = {
    connected: 0,
    batchesSent: 0,
    eventsSent: 0,
    acks: 0,
    unacked: 0,
    rejects: {},
    closes: 0,
    errors: 0,
    ackLatencyMs: { throttle: [], birth: [], failure: [] },
    ackSentAtMs: { throttle: [], birth: [], failure: [] },
    countedAcked: {},
    loopDelayMs: { p50: 0, p99: 0 },
  };
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const agents: Agent[] = [];
  let hellos = 0;
  const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  process.on("SIGTERM", () => {
    for (const a of agents) a.quiesce();
    const outstanding = () => agents.reduce((n, a) => n + a.outstanding(), 0);
    const deadline = performance.now() + options.drainMs;
    const finish = () => {
      if (outstanding() > 0 && performance.now() < deadline) {
        setTimeout(finish, 100);
        return;
      }
      stats.unacked = outstanding();
      stats.loopDelayMs = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6 };
      for (const a of agents) a.stop();
      // Exit once the (large: every latency) line is flushed into the pipe, not before.
      process.stdout.write(`${JSON.stringify({ stats })}\n`, () => process.exit(0));
    };
    finish();
  });
  // Ramp up in waves so the connection storm stays that of real agents restarting, not a SYN flood.
  for (let i = 0; i < options.agents; i += options.rampConcurrency) {
    const wave = Math.min(options.rampConcurrency, options.agents - i);
    const target = hellos + wave;
    await new Promise<void>((resolve) => {
      const done = () => {
        hellos++;
        if (hellos >= target) resolve();
      };
      for (let k = 0; k < wave; k++) agents.push(startAgent(options, options.first + i + k, stats, done));
      setTimeout(resolve, 10_000); // a slow wave does not stall the ramp; "ready" reports the real count
    });
  }
  print({ ready: true, connected: stats.connected });
}

main().catch((err: unknown) => {
  process.stderr.write(`load generator failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
