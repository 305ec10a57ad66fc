// The hostile agent of issue 12's fuzz run, shared by its end-to-end test
// (fuzzed-agents-leave-the-aggregator-serving.test.ts) and its benchmark (bench/fuzz): an
// authenticated agent sending, over real WebSockets, batches about real pods of its node with
// made-up containers (each a new KernelWhisper: the writer's objects pile up behind the write
// rate limit), about made-up pods in made-up namespaces, with long ids, out-of-range values,
// truncated frames and garbage. A refused frame closes its connection; the agent reconnects.
// Deterministic (seeded PRNG): the same frames on every run.
//
// The floor is a well-formed agent sending the same number of frames of the same event mix
// (the same pods, containers and made-up pods) with ordinary ids and nothing refused, in
// connections of the same length.
//
// No vitest here: bench/fuzz runs it outside the test runner.
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { decodeEnvelope, encodeEnvelope, PROTOCOL_VERSION, type WireEvent } from "../../shared/proto.ts";
import { crashLoopEvent } from "./crash-loops.ts";

/** A real pod on the fuzzing agent's node (the API server has it: its events reach the writer). */
export interface FuzzPod {
  namespace: string;
  name: string;
  uid: string;
}

export interface FuzzTarget {
  port: number;
  token: string;
  node: string;
  /** Real pods on `node`; events about them reach the writer. */
  pods: readonly FuzzPod[];
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line?.replace(/\D+/g, "") ?? 0) * 1024;
}

/** One event of the mix: 70 % about a real pod with one of 5,000 containers, else a made-up pod. */
/** Events made so far in this process: each event's id ends with its number. */
let eventNumber = 0;

function mixEvent(
  random: () => number,
  target: FuzzTarget,
  seq: number,
  i: number,
  hostile: boolean,
): WireEvent {
  const real = target.pods.length > 0 && random() < 0.7;
  let e: WireEvent;
  if (real) {
    const pod = target.pods[Math.floor(random() * target.pods.length)] as FuzzPod;
    e = crashLoopEvent(target.node, pod.namespace, pod.name, seq * 10 + i);
    if (e.pod) e.pod.uid = pod.uid;
    e.container = `c-${Math.floor(random() * 5000)}`;
  } else {
    const ns = `ns-${Math.floor(random() * 200)}`;
    e = crashLoopEvent(target.node, ns, `p-${Math.floor(random() * 2000)}`, seq * 10 + i);
    if (e.pod) e.pod.labels = { "workload-id": `w-${Math.floor(random() * 1000)}` };
  }
  // Unique ids on both sides (seq restarts with each connection): nothing is a redelivery.
  e.id = `${e.id}/${++eventNumber}`;
  const pad = Math.floor(random() * 400);
  if (hostile) e.id = `${e.id}/${"x".repeat(pad)}`;
  return e;
}

/** A frame to send; `refused`: the aggregator refuses it (and closes); `last`: the connection ends after it. */
export interface Frame {
  frame: Uint8Array;
  refused: boolean;
  last: boolean;
}

/** The next frame of a hostile connection; `refused`: the aggregator closes the connection on it. */
export function hostileFrame(random: () => number, target: FuzzTarget, seq: number): Frame {
  const r = random();
  if (r < 0.85) {
    const events = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) =>
      mixEvent(random, target, seq, i, true),
    );
    return { frame: encodeEnvelope({ batch: { seq, events } }), refused: false, last: false };
  }
  if (r < 0.92) {
    const bad = mixEvent(random, target, seq, 0, true);
    const field = Math.floor(random() * 3);
    if (field === 0) bad.observedAtMs = 1.8e19;
    else if (field === 1) bad.count = 4_000_000_000;
    else bad.id = "y".repeat(256 * 1024);
    return { frame: encodeEnvelope({ batch: { seq, events: [bad] } }), refused: true, last: true };
  }
  const valid = encodeEnvelope({ batch: { seq, events: [mixEvent(random, target, seq, 0, true)] } });
  if (r < 0.96)
    return { frame: valid.subarray(0, Math.floor(random() * valid.length)), refused: true, last: true };
  return {
    frame: Uint8Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256)),
    refused: true,
    last: true,
  };
}

/**
 * The floor's frame: the same draw as hostileFrame (so the same events, pods and connection
 * lengths), but every frame a well-formed batch with ordinary ids; the connection ends where
 * the hostile one was refused.
 */
export function wellFormedFrame(random: () => number, target: FuzzTarget, seq: number): Frame {
  const r = random();
  const n = r < 0.85 ? 1 + Math.floor(random() * 3) : 1;
  if (r >= 0.85 && r < 0.92) random(); // the hostile draw's field choice
  const events = Array.from({ length: n }, (_, i) => mixEvent(random, target, seq, i, false));
  if (r >= 0.92 && r < 0.96) random(); // the hostile draw's cut
  return { frame: encodeEnvelope({ batch: { seq, events } }), refused: false, last: r >= 0.85 };
}

type FrameSource = typeof hostileFrame;

/**
 * Sends `count` frames of `next` over as many connections as their ends need, one connection
 * at a time. A connection ending on a refused frame is dropped once the aggregator answered
 * it (Reject or close; throws when it does not within 5 s); any other is closed by this side.
 */
export async function sendFrames(
  target: FuzzTarget,
  random: () => number,
  count: number,
  next: FrameSource,
): Promise<void> {
  let sent = 0;
  while (sent < count) {
    const ws = new WebSocket(`ws://127.0.0.1:${target.port}/stream`, {
      headers: { authorization: `Bearer ${target.token}` },
      perMessageDeflate: false,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.on("error", () => {});
    ws.send(
      encodeEnvelope({
        hello: { node: target.node, agentVersion: "fuzz", protocolVersion: PROTOCOL_VERSION },
      }),
    );
    let seq = 0;
    let answered = false;
    const answer = new Promise<void>((resolve) => {
      ws.on("message", (data: Buffer) => {
        if (decodeEnvelope(new Uint8Array(data)).reject) {
          answered = true;
          resolve();
        }
      });
      ws.once("close", () => resolve());
    });
    let refused = false;
    for (;;) {
      const f = next(random, target, ++seq);
      ws.send(f.frame);
      sent++;
      refused = f.refused;
      if (f.refused || f.last || sent >= count) break;
      if (ws.bufferedAmount > 1 << 20) await new Promise((r) => setTimeout(r, 5));
    }
    if (refused) {
      // Answered with a Reject (or closed): the aggregator would still ack the batches being
      // written before it closes; an attacker does not wait for that.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([answer, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
      clearTimeout(timer);
      if (!answered && ws.readyState !== ws.CLOSED)
        throw new Error(`frame ${sent} was not answered within 5 s`);
      ws.terminate();
    } else {
      ws.close(1000);
      await answer;
    }
  }
}
