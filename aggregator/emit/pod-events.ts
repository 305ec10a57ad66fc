// A Warning Event on the pod for each new whisper, so `kubectl describe pod` shows it.
// Rate-limited per pod like client-go's EventSourceObjectSpamFilter (a token bucket per
// source+object: burst 25, one token per 5 minutes); fire-and-forget, never blocks acks.
import { randomBytes } from "node:crypto";
import { CoreV1Api, type CoreV1Event, type KubeConfig } from "@kubernetes/client-node";
import { LRUCache } from "lru-cache";
import type { Clock } from "../../shared/clock.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS, timeoutOptions } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { EmitMetrics } from "./metrics.ts";
import type { WhisperState } from "./whisper.ts";

export const EVENT_BURST = 25;
export const EVENT_REFILL_MS = 5 * 60_000;

export interface EventSink {
  create(namespace: string, event: CoreV1Event): Promise<unknown>;
}

export function kubeEventSink(kubeConfig: KubeConfig, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): EventSink {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const timeout = timeoutOptions(timeoutMs);
  return { create: (namespace, body) => api.createNamespacedEvent({ namespace, body }, timeout) };
}

export interface PodEventsOptions {
  sink: EventSink;
  clock: Clock;
  log: Logger;
  metrics: Pick<EmitMetrics, "podEvents">;
  /** This replica's name (reportingInstance). */
  instance: string;
  enabled: boolean;
}

export class PodEvents {
  #o: PodEventsOptions;
  #buckets = new LRUCache<string, { tokens: number; at: number }>({ max: 4096 });
  #inflight = new Set<Promise<unknown>>();

  constructor(options: PodEventsOptions) {
    this.#o = options;
  }

  #allow(key: string): boolean {
    const now = this.#o.clock.monotonic();
    const b = this.#buckets.get(key) ?? { tokens: EVENT_BURST, at: now };
    b.tokens = Math.min(EVENT_BURST, b.tokens + (now - b.at) / EVENT_REFILL_MS);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.#buckets.set(key, b);
    return ok;
  }

  /** Records the whisper's creation on its newest affected pod. */
  whisperCreated(w: WhisperState): void {
    if (!this.#o.enabled) return;
    const pod = w.pods[0];
    if (!pod) return;
    if (!this.#allow(pod.uid)) {
      this.#o.metrics.podEvents.inc({ outcome: "filtered" });
      return;
    }
    const now = new Date(this.#o.clock.now());
    const rec = w.recommendation();
    const event: CoreV1Event = {
      metadata: { name: `${pod.name}.${randomBytes(8).toString("hex")}`, namespace: w.namespace },
      involvedObject: { apiVersion: "v1", kind: "Pod", namespace: w.namespace, name: pod.name, uid: pod.uid },
      type: "Warning",
      reason: w.identity.signal,
      message:
        `kernel-gossip: ${w.identity.signal} in container ${w.identity.container} (${w.severity}); kubectl get kw ${w.name} -n ${w.namespace}. ${rec.summary}`.slice(
          0,
          1024,
        ),
      source: { component: "kernel-gossip-aggregator" },
      reportingComponent: "kernel.gossip.io/aggregator",
      reportingInstance: this.#o.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    const p = this.#o.sink
      .create(w.namespace, event)
      .then(() => this.#o.metrics.podEvents.inc({ outcome: "written" }))
      .catch((err: unknown) => {
        this.#o.metrics.podEvents.inc({ outcome: "failed" });
        this.#o.log.warn(
          {
            err: err instanceof Error ? err.message.split("\n")[0] : String(err),
            pod: pod.name,
            namespace: w.namespace,
          },
          "cannot write the pod Event for a new whisper (the whisper itself is written); check RBAC: create events",
        );
      })
      .finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  /** Waits for Event writes in flight (shutdown, tests). */
  async drain(): Promise<void> {
    await Promise.all([...this.#inflight]);
  }
}
