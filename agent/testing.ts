// Test support for building the agent's stages with the product's factories (agent/wiring.ts,
// agent/delivery.ts): the agent's options as parsed from an environment with the three
// required settings filled in, every other value the product default unless a test says.
import { parseOptions } from "../shared/options.ts";
import { AGENT_OPTIONS, type AgentOptions } from "./options.ts";

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
