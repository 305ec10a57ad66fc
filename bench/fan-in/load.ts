// Load generator for the fan-in case: `agents` simulated agents, each a real WebSocket
// client (ws, deflate off) that authenticates, sends Hello, then one real protobuf Batch
// every `intervalMs` (starts staggered over the interval, like agents started at random
// times). Run as a child process so its work is not charged to the aggregator or the
// bench process. Prints one JSON line per state change on stdout:
//   {"ready":true,"connected":N}   once every agent has sent Hello
//   {"stats":{...}}                on SIGTERM, then exits
//
//   node bench/fan-in/load.ts '<json LoadOptions>'
import WebSocket from "ws";
import { decodeEnvelope, encodeEnvelope, PROTOCOL_VERSION, type WireEvent } from "../../shared/proto.ts";
import { mixEvents } from "../events/mix.ts";

export interface LoadOptions {
  url: string;
  token: string;
  agents: number;
  /** Index of the first simulated node (node names are `<nodePrefix><index>`). */
  first: number;
  nodePrefix: string;
  eventsPerBatch: number;
  intervalMs: number;
  /** Connections opened at once while ramping up. */
  rampConcurrency: number;
}

interface Stats {
  connected: number;
  batchesSent: number;
  eventsSent: number;
  acks: number;
  rejects: Record<string, number>;
  closes: number;
  errors: number;
  ackLatencyMs: number[];
}

// Steady state of a large cluster: mostly throttle updates; births at ~2/s over 1,000 nodes
// (110k pods living about a day), each a PodBirthCertificate write.
const SAMPLE_MIX = { throttle: 0.868, failure: 0.12, birth: 0.002, oom: 0.01 };

function agentEvents(node: string, seed: number): WireEvent[] {
  // A pool of this node's events to send from, each batch with fresh ids and timestamps.
  return mixEvents(200, { seed, node, pods: 110, workloads: 40, mix: SAMPLE_MIX });
}

function startAgent(options: LoadOptions, index: number, stats: Stats, onHello: () => void): () => void {
  const node = `${options.nodePrefix}${index}`;
  const pool = agentEvents(node, index + 1);
  let seq = 0;
  let cursor = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const sentAt = new Map<number, number>();
  const ws = new WebSocket(options.url, {
    perMessageDeflate: false,
    headers: { authorization: `Bearer ${options.token}` },
  });
  const sendBatch = (): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    seq++;
    const events: WireEvent[] = [];
    for (let k = 0; k < options.eventsPerBatch; k++) {
      const template = pool[cursor++ % pool.length] as WireEvent;
      events.push({ ...template, id: `${template.id}#${seq}.${k}`, observedAtMs: now });
    }
    sentAt.set(seq, performance.now());
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
      const t = sentAt.get(ackSeq);
      if (t !== undefined) {
        stats.ackLatencyMs.push(performance.now() - t);
        sentAt.delete(ackSeq);
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
  return () => {
    if (timer) clearTimeout(timer);
    ws.terminate();
  };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? "{}") as LoadOptions;
  const stats: Stats = {
    connected: 0,
    batchesSent: 0,
    eventsSent: 0,
    acks: 0,
    rejects: {},
    closes: 0,
    errors: 0,
    ackLatencyMs: [],
  };
  const stops: (() => void)[] = [];
  let hellos = 0;
  const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  process.on("SIGTERM", () => {
    for (const stop of stops) stop();
    print({ stats });
    setTimeout(() => process.exit(0), 50);
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
      for (let k = 0; k < wave; k++) stops.push(startAgent(options, options.first + i + k, stats, done));
      setTimeout(resolve, 10_000); // a slow wave does not stall the ramp; "ready" reports the real count
    });
  }
  print({ ready: true, connected: stats.connected });
}

main().catch((err: unknown) => {
  process.stderr.write(`load generator failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
