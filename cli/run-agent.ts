// `kernel-gossip agent`: logger, registry and signals around startAgent.
import { startAgent } from "../agent/main.ts";
import type { AgentOptions } from "../agent/options.ts";
import { systemClock } from "../shared/clock.ts";
import { createLogger } from "../shared/log.ts";
import { createRegistry } from "../shared/metrics.ts";
import { untilSignal } from "./signals.ts";

export async function runAgentProcess(options: AgentOptions): Promise<number> {
  const log = createLogger({ level: options.logLevel, base: { role: "agent", node: options.nodeName } });
  const registry = createRegistry();
  const agent = await startAgent(options, { log, registry, clock: systemClock });
  const signal = await untilSignal();
  log.info(
    { signal, deadlineMs: options.shutdownTimeout },
    "shutting down: flushing and waiting for acknowledgements",
  );
  const { delivered, undelivered, droppedEarlier, spooled = 0 } = await agent.stop();
  if (undelivered > 0 && spooled >= undelivered) {
    log.info(
      { delivered, undelivered, spooled, droppedEarlier, spoolDir: options.spoolDir },
      `stopped; ${undelivered} events not yet acknowledged are kept in the spool and resent when the agent starts again`,
    );
  } else if (undelivered > 0) {
    log.warn(
      { delivered, undelivered, droppedEarlier },
      `${undelivered} events were not acknowledged by the aggregator before the deadline and are lost; raise --shutdown-timeout if this happens on every rollout`,
    );
  } else if (droppedEarlier > 0) {
    log.warn(
      { delivered, undelivered, droppedEarlier },
      `stopped; everything held or queued at shutdown was delivered, but ${droppedEarlier} events were dropped while running (kernel_gossip_agent_events_dropped_total says why)`,
    );
  } else log.info({ delivered }, "stopped; every event was delivered");
  log.flush();
  return 0;
}
