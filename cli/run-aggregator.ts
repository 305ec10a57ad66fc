// `kernel-gossip aggregator`: logger, registry and signals around startAggregator.
import { startAggregator } from "../aggregator/main.ts";
import type { AggregatorOptions } from "../aggregator/options/index.ts";
import { systemClock } from "../shared/clock.ts";
import { createLogger } from "../shared/log.ts";
import { createRegistry } from "../shared/metrics.ts";
import { untilSignal } from "./signals.ts";

export async function runAggregatorProcess(options: AggregatorOptions): Promise<number> {
  const log = createLogger({ level: options.logLevel, base: { role: "aggregator" } });
  const registry = createRegistry();
  const aggregator = await startAggregator(options, { log, registry, clock: systemClock });
  const signal = await untilSignal();
  log.info({ signal }, "shutting down: refusing new batches, flushing pending writes");
  await aggregator.stop();
  log.info("stopped");
  log.flush();
  return 0;
}
