// Where a kernel-gossip process's resident memory goes, from its own /metrics (prom-client
// default metrics): V8 heap in use and allocated, and memory outside the heap (buffers,
// TLS, native modules). RSS minus these is code, V8's own structures and the allocator.
import { metricValue } from "./metrics.ts";

const MiB = 1024 * 1024;

export function memoryBreakdown(metricsText: string): string {
  const used = metricValue(metricsText, "nodejs_heap_size_used_bytes") / MiB;
  const total = metricValue(metricsText, "nodejs_heap_size_total_bytes") / MiB;
  const external = metricValue(metricsText, "nodejs_external_memory_bytes") / MiB;
  const rss = metricValue(metricsText, "process_resident_memory_bytes") / MiB;
  const f = (n: number) => `${Math.round(n)} MiB`;
  return `its own /metrics: RSS ${f(rss)} = V8 heap ${f(total)} allocated (${f(used)} in use) + ${f(external)} external + ${f(rss - total - external)} code, V8 internals and allocator`;
}
