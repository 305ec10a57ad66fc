// The agent's delivery path, built from the options: dedup → the bounded outbox → the link
// to the aggregator. startAgent (agent/main.ts) builds it with createDelivery; tests and
// benchmarks that need the real path build it the same way (createDelivery, createQueue,
// createLink), injecting only a clock, a reconnect backoff or the neighbour they replace.
import { readFile } from "node:fs/promises";
import type { Backoff } from "../shared/backoff.ts";
import type { Clock } from "../shared/clock.ts";
import type { Logger } from "../shared/log.ts";
import type { ConfigFrame } from "../shared/proto.ts";
import { VERSION } from "../shared/version.ts";
import { AgentLink, type BatchJournal, type LinkMetrics, type OutboxPort } from "./link/index.ts";
import type { AgentOptions } from "./options.ts";
import { Deduplicator } from "./queue/dedup.ts";
import type { QueueMetrics } from "./queue/metrics.ts";
import { Outbox } from "./queue/outbox.ts";
import type { EventSink } from "./types/index.ts";

/** What the agent can report; Hello announces it. */
export const CAPABILITIES: readonly string[] = [
  "pod-failure",
  "kernel-oom",
  "cpu-throttle",
  "memory-pressure",
  "pod-birth",
];

/** The deduplicator in front of `next` (the outbox in the agent). */
export function createDedup(
  o: AgentOptions,
  deps: { next: EventSink; clock: Clock; metrics: QueueMetrics },
): Deduplicator {
  return new Deduplicator({ ...deps, cooldownMs: o.dedupCooldown, maxKeys: o.dedupMaxKeys });
}

/** Dedup in front of the bounded outbox. */
export function createQueue(
  o: AgentOptions,
  deps: { clock: Clock; log: Logger; metrics: QueueMetrics; isLineIdle: () => boolean },
): { outbox: Outbox; dedup: Deduplicator } {
  const { clock, log, metrics } = deps;
  const outbox = new Outbox({
    clock,
    log,
    metrics,
    maxEvents: o.queueMaxEvents,
    maxBytes: o.queueMaxBytes,
    maxBatchEvents: o.maxBatchEvents,
    flushIntervalMs: o.flushInterval,
    isLineIdle: deps.isLineIdle,
  });
  return { outbox, dedup: createDedup(o, { next: outbox, clock, metrics }) };
}

export interface LinkDeps {
  clock: Clock;
  log: Logger;
  metrics: LinkMetrics;
  /** Hello's cgroup layout ("v2/systemd", …) and the remote config version in force. */
  cgroupLayout: string;
  configVersion: () => string;
  onConfig: (frame: ConfigFrame) => void;
  /** The spool, when there is one: batches kept across restarts (ADR 0013). */
  journal?: BatchJournal;
  /** Reconnect backoff; the link's own (1 s → 30 s) when unset. */
  backoff?: Backoff;
}

/** The link to the aggregator, taking batches from `outbox`; the token is re-read on every connect. */
export function createLink(o: AgentOptions, deps: LinkDeps & { outbox: OutboxPort }): AgentLink {
  if (o.agentToken === undefined && o.tokenFile === "") {
    deps.log.warn("no --agent-token and no --token-file: the aggregator will refuse the connection");
  }
  return new AgentLink({
    url: o.aggregatorUrl,
    token: async () =>
      o.agentToken !== undefined ? o.agentToken : (await readFile(o.tokenFile, "utf8")).trim(),
    ...(o.aggregatorCaFile !== undefined && { caFile: o.aggregatorCaFile }),
    outbox: deps.outbox,
    hello: () => ({
      node: o.nodeName,
      cluster: o.clusterName,
      agentVersion: VERSION,
      capabilities: [...CAPABILITIES],
      configVersion: deps.configVersion(),
      cgroupLayout: deps.cgroupLayout,
    }),
    onConfig: deps.onConfig,
    ...(deps.journal && { journal: deps.journal }),
    ...(deps.backoff && { backoff: deps.backoff }),
    clock: deps.clock,
    log: deps.log,
    metrics: deps.metrics,
    settings: {
      heartbeatIntervalMs: o.heartbeatInterval,
      maxUnackedBatches: o.maxUnackedBatches,
      maxBatchEvents: o.maxBatchEvents,
    },
  });
}

/**
 * Dedup → outbox → link. The outbox asks the link whether the line is idle (a batch then
 * leaves before its flush interval), so the two are built together here.
 */
export function createDelivery(
  o: AgentOptions,
  deps: Omit<LinkDeps, "metrics"> & { metrics: { queue: QueueMetrics; link: LinkMetrics } },
): { dedup: Deduplicator; outbox: Outbox; link: AgentLink } {
  const { clock, log, metrics } = deps;
  const { outbox, dedup } = createQueue(o, {
    clock,
    log,
    metrics: metrics.queue,
    isLineIdle: () => link.isIdle(),
  });
  const link = createLink(o, { ...deps, metrics: metrics.link, outbox });
  return { dedup, outbox, link };
}
