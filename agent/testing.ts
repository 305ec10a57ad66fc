// Test support for building the agent's stages with the product's factories (agent/wiring.ts,
// agent/delivery.ts): the agent's options as parsed from an environment with the three
// required settings filled in, every other value the product default unless a test says.

import { Backoff } from "../shared/backoff.ts";
import { systemClock } from "../shared/clock.ts";
import { silentLogger } from "../shared/log.ts";
import { createRegistry, type Registry } from "../shared/metrics.ts";
import { parseOptions } from "../shared/options.ts";
import { createDelivery } from "./delivery.ts";
import { createLinkMetrics } from "./link/metrics.ts";
import { AGENT_OPTIONS, type AgentOptions } from "./options.ts";
import { createQueueMetrics } from "./queue/metrics.ts";

/**
 * The options `kernel-gossip agent` would run with for node `node-a`, then `overrides` (values
 * as the program sees them: milliseconds, lists), so a test names only what it changes.
 */
export function testAgentOptions(overrides: Partial<AgentOptions> = {}): AgentOptions {
  const parsed = parseOptions(AGENT_OPTIONS, [], {
    NODE_NAME: "node-a",
    AGGREGATOR_URL: "ws://127.0.0.1:1/stream",
    AGENT_TOKEN: "tok",
  });
  return { ...parsed, ...overrides };
}

/**
 * The agent's delivery path (dedup → outbox → link) as startAgent builds it, for a test that
 * drives it without the rest of the agent: the system clock, a silent log, its metrics in
 * `registry`, no cgroup layout or remote config, and a short reconnect backoff.
 */
export function testDelivery(
  o: AgentOptions,
  registry: Registry = createRegistry({ defaultMetrics: false }),
  backoff: Backoff = new Backoff({ initialMs: 50, maxMs: 300 }),
): ReturnType<typeof createDelivery> & { registry: Registry } {
  return {
    ...createDelivery(o, {
      clock: systemClock,
      log: silentLogger(),
      metrics: { queue: createQueueMetrics(registry), link: createLinkMetrics(registry) },
      cgroupLayout: "",
      configVersion: () => "",
      onConfig: () => {},
      backoff,
    }),
    registry,
  };
}
