// One prom-client registry per process, created in main and passed to every module that
// exports metrics. Modules declare their metrics in their own `metrics.ts` with typed
// `labelNames` (`as const`) and register them on the registry they are given.
import { collectDefaultMetrics, Registry } from "prom-client";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

const MISNAMED_DEFAULT_GAUGES = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

export function createRegistry(options: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // prom-client exports these three as gauges named *_total (promtool: "non-counter
    // metrics should not have _total suffix"); the same figures stay available without the
    // suffix (nodejs_active_handles, nodejs_active_requests, nodejs_active_resources).
    for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
  }
  return registry;
}

/** Buckets for durations of local work (cgroup scans, decode): 100 µs … 5 s. */
export const FAST_SECONDS_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
];
/** Buckets for network round trips and end-to-end latency: 5 ms … 60 s. */
export const NETWORK_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
