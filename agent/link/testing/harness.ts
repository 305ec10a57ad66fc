// Builds an AgentLink for tests the way the agent builds it (agent/delivery.ts createLink), with
// a silent logger, its own registry, a fast backoff and small test settings.
import { Backoff } from "../../../shared/backoff.ts";
import type { Clock } from "../../../shared/clock.ts";
import { silentLogger } from "../../../shared/log.ts";
import { createRegistry, type Registry } from "../../../shared/metrics.ts";
import type { ConfigFrame } from "../../../shared/proto.ts";
import { createLink } from "../../delivery.ts";
import type { AgentOptions } from "../../options.ts";
import { testAgentOptions } from "../../testing.ts";
import { type AgentLink, type AgentLinkDeps, createLinkMetrics } from "../index.ts";
import type { LinkSettings } from "../ports.ts";
import { MemoryOutbox } from "./memory-outbox.ts";

export function testLink(options: {
  url: string;
  clock: Clock;
  token?: string;
  node?: string;
  outbox?: MemoryOutbox;
  settings?: Partial<LinkSettings>;
  onConfig?: (frame: ConfigFrame) => void;
  /** The remote config version Hello announces; "" (built-in defaults) when unset. */
  configVersion?: () => string;
  log?: AgentLinkDeps["log"];
  journal?: AgentLinkDeps["journal"];
  /** Any other agent option, as the program sees it (tokenFile, aggregatorCaFile, …). */
  agent?: Partial<AgentOptions>;
  /** Reconnect backoff; 100 ms → 1 s without jitter when unset. */
  backoff?: Backoff;
}): {
  link: AgentLink;
  outbox: MemoryOutbox;
  registry: Registry;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
} {
  const registry = createRegistry({ defaultMetrics: false });
  const outbox = options.outbox ?? new MemoryOutbox();
  const settings = {
    heartbeatIntervalMs: 1_000,
    maxUnackedBatches: 8,
    maxBatchEvents: 10,
    ...options.settings,
  };
  const o = testAgentOptions({
    aggregatorUrl: options.url,
    agentToken: options.token ?? "tok",
    nodeName: options.node ?? "node-a",
    clusterName: "test",
    heartbeatInterval: settings.heartbeatIntervalMs,
    maxUnackedBatches: settings.maxUnackedBatches,
    maxBatchEvents: settings.maxBatchEvents,
    ...options.agent,
  });
  const link = createLink(o, {
    outbox,
    clock: options.clock,
    log: options.log ?? silentLogger(),
    metrics: createLinkMetrics(registry),
    cgroupLayout: "v2/systemd",
    configVersion: options.configVersion ?? (() => ""),
    onConfig: options.onConfig ?? (() => {}),
    backoff: options.backoff ?? new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0.5 }),
    ...(options.journal && { journal: options.journal }),
  });
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
    return values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((n, v) => n + v.value, 0);
  };
  return { link, outbox, registry, metric };
}
