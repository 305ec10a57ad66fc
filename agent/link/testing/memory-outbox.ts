// A small bounded in-memory outbox for link and stream tests (the real one is agent/queue).
// Bounded in events and encoded bytes; when full, the incoming event is dropped and counted.
// Signals readiness on the next microtask after a push (the "line was idle" behaviour).
import { type WireEvent, wire } from "../../../shared/proto.ts";
import type { OutboxPort } from "../ports.ts";

export class MemoryOutbox implements OutboxPort {
  readonly maxEvents: number;
  readonly maxBytes: number;
  dropped = 0;
  #events: { event: WireEvent; bytes: number }[] = [];
  #head = 0;
  #bytes = 0;
  #listeners: (() => void)[] = [];
  #signalled = false;

  constructor(options: { maxEvents?: number; maxBytes?: number } = {}) {
    this.maxEvents = options.maxEvents ?? Number.MAX_SAFE_INTEGER;
    this.maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  }

  get size(): number {
    return this.#events.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  push(event: WireEvent): void {
    const bytes = wire.Event.encode(event).finish().length;
    if (this.size >= this.maxEvents || this.#bytes + bytes > this.maxBytes) {
      this.dropped++;
      return;
    }
    this.#events.push({ event, bytes });
    this.#bytes += bytes;
    this.#signal();
  }

  take(max: number): WireEvent[] {
    const end = Math.min(this.#events.length, this.#head + max);
    const out = this.#events.slice(this.#head, end);
    this.#head = end;
    if (this.#head > 1024 && this.#head * 2 > this.#events.length) {
      this.#events = this.#events.slice(this.#head);
      this.#head = 0;
    }
    for (const item of out) this.#bytes -= item.bytes;
    return out.map((item) => item.event);
  }

  onReady(listener: () => void): void {
    this.#listeners.push(listener);
  }

  #signal(): void {
    if (this.#signalled) return;
    this.#signalled = true;
    queueMicrotask(() => {
      this.#signalled = false;
      for (const listener of this.#listeners) listener();
    });
  }
}

/** A failure event about pod `pod-<n>` on `node`, with a unique id. */
export function failureEvent(n: number, node: string, extra: Partial<WireEvent> = {}): WireEvent {
  return {
    id: `uid-${n}/app/${n}/CrashLoopBackOff`,
    pod: {
      uid: `uid-${n}`,
      namespace: "shop",
      name: `pod-${n}`,
      node,
      labels: { app: "cart", "workload-id": "cart" },
      owners: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: "cart-7d9", uid: "rs-1", controller: true },
      ],
      qosClass: "Burstable",
    },
    container: "app",
    observedAtMs: 1_767_225_600_000 + n,
    count: 1,
    failure: { reason: "CrashLoopBackOff", exitCode: 137, restartCount: n, lastReason: "OOMKilled" },
    ...extra,
  };
}
