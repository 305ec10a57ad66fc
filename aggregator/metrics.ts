// Every metric the aggregator exports, registered on the one registry of the process.
import type { Registry } from "prom-client";
import { createConfigPushMetrics } from "./config-push/metrics.ts";
import { createPipelineMetrics } from "./pipeline/metrics.ts";
import { createStreamMetrics } from "./stream/metrics.ts";

export function createAggregatorMetrics(registry: Registry) {
  return {
    stream: createStreamMetrics(registry),
    pipeline: createPipelineMetrics(registry),
    configPush: createConfigPushMetrics(registry),
  };
}
