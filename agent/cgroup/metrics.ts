// Metrics of the cgroup sensors. Per-container series mirror the kernel's own counters:
// they are real prom-client Counters whose collect() rebuilds them from the last scan, so
// a container that goes away simply stops having series, and a restart shows up as the
// counter reset Prometheus' rate() already understands.
import { Counter, FAST_SECONDS_BUCKETS, Gauge, Histogram, type Registry } from "../../shared/metrics.ts";

const CONTAINER_LABELS = ["namespace", "pod", "container"] as const;
type ContainerLabels = Record<(typeof CONTAINER_LABELS)[number], string>;

/** The last scan's figures for one container. */
export interface ContainerSeries {
  labels: ContainerLabels;
  /** Window ratio; undefined when the container has no limit or no window yet. */
  throttledRatio?: number;
  throttledSeconds: number;
  periods: number;
  throttledPeriods: number;
  usageSeconds: number;
  /** undefined = no limit: no series at all. */
  limitCores?: number;
  /** undefined when the memory counter is not readable. */
  oomKills?: number;
  memoryWorkingSetBytes?: number;
  /** undefined = no memory limit: no series at all. */
  memoryLimitBytes?: number;
  memoryLimitHits?: number;
  /** memory.pressure "some" total in seconds; undefined without PSI. */
  memoryPressureSomeSeconds?: number;
}

type Field =
  | "throttledRatio"
  | "throttledSeconds"
  | "periods"
  | "throttledPeriods"
  | "usageSeconds"
  | "limitCores"
  | "oomKills"
  | "memoryWorkingSetBytes"
  | "memoryLimitBytes"
  | "memoryLimitHits"
  | "memoryPressureSomeSeconds";

export function createCgroupMetrics(registry: Registry) {
  const series = new Map<string, ContainerSeries>();
  const mirror = (
    metric: Counter<(typeof CONTAINER_LABELS)[number]> | Gauge<(typeof CONTAINER_LABELS)[number]>,
    field: Field,
  ) => {
    metric.reset();
    for (const s of series.values()) {
      const value = s[field];
      if (value === undefined) continue;
      if (metric instanceof Counter) metric.inc(s.labels, value);
      else metric.set(s.labels, value);
    }
  };
  const counter = (name: string, help: string, field: Field) =>
    new Counter({
      name,
      help,
      labelNames: CONTAINER_LABELS,
      registers: [registry],
      collect() {
        mirror(this, field);
      },
    });
  const gauge = (name: string, help: string, field: Field) =>
    new Gauge({
      name,
      help,
      labelNames: CONTAINER_LABELS,
      registers: [registry],
      collect() {
        mirror(this, field);
      },
    });
  return {
    /** Per-container figures, keyed by pod uid + container name; the sampler keeps it current. */
    series,
    scanDuration: new Histogram({
      name: "kernel_gossip_agent_cgroup_scan_duration_seconds",
      help: "Duration of one scan of every located container cgroup.",
      buckets: FAST_SECONDS_BUCKETS,
      registers: [registry],
    }),
    readErrors: new Counter({
      name: "kernel_gossip_agent_cgroup_read_errors_total",
      help: "cgroup files that could not be read or parsed, by file and error (ENOENT of a vanished container is not counted).",
      labelNames: ["file", "error"] as const,
      registers: [registry],
    }),
    layoutInfo: new Gauge({
      name: "kernel_gossip_agent_cgroup_layout_info",
      help: "Detected cgroup layout: version v1 or v2, driver cgroupfs, systemd or unknown (always 1).",
      labelNames: ["version", "driver"] as const,
      registers: [registry],
    }),
    containers: new Gauge({
      name: "kernel_gossip_agent_cgroup_containers",
      help: "Containers whose cgroup is located and scanned.",
      registers: [registry],
    }),
    kernelOomMerged: new Counter({
      name: "kernel_gossip_agent_kernel_oom_merged_total",
      help: "Kernel OOM kills not sent because the kubelet reports them (the main process died).",
      registers: [registry],
    }),
    throttledRatio: gauge(
      "kernel_gossip_container_cpu_throttled_ratio",
      "Throttled share of CFS periods over the throttle window (no series without a CPU limit).",
      "throttledRatio",
    ),
    throttledSeconds: counter(
      "kernel_gossip_container_cpu_throttled_seconds_total",
      "Throttled time from cpu.stat, as the kernel sums it over the cgroup's per-CPU run queues (can grow faster than wall time on a multi-CPU node; not lost demand, ADR 0012).",
      "throttledSeconds",
    ),
    periods: counter(
      "kernel_gossip_container_cpu_periods_total",
      "CFS enforcement periods elapsed, from cpu.stat nr_periods.",
      "periods",
    ),
    throttledPeriods: counter(
      "kernel_gossip_container_cpu_throttled_periods_total",
      "CFS periods in which the container was throttled, from cpu.stat nr_throttled.",
      "throttledPeriods",
    ),
    usageSeconds: counter(
      "kernel_gossip_container_cpu_usage_seconds_total",
      "CPU time consumed by the container (cpu.stat usage_usec / cpuacct.usage).",
      "usageSeconds",
    ),
    limitCores: gauge(
      "kernel_gossip_container_cpu_limit_cores",
      "CPU limit in cores from the cgroup (no series when the container has no limit).",
      "limitCores",
    ),
    oomKills: counter(
      "kernel_gossip_container_oom_kills_total",
      "OOM kills in the container's memory cgroup (memory.events / memory.oom_control oom_kill).",
      "oomKills",
    ),
    memoryWorkingSet: gauge(
      "kernel_gossip_container_memory_working_set_bytes",
      "Working set: memory usage minus inactive file cache (v2 memory.current - inactive_file, v1 memory.usage_in_bytes - total_inactive_file).",
      "memoryWorkingSetBytes",
    ),
    memoryLimit: gauge(
      "kernel_gossip_container_memory_limit_bytes",
      "Memory limit from the cgroup (memory.max / memory.limit_in_bytes); no series when the container has no limit.",
      "memoryLimitBytes",
    ),
    memoryLimitHits: counter(
      "kernel_gossip_container_memory_limit_hits_total",
      "Times the container's memory usage hit its limit (v2 memory.events max, v1 memory.failcnt).",
      "memoryLimitHits",
    ),
    memoryPressureSome: counter(
      "kernel_gossip_container_memory_pressure_stalled_seconds_total",
      "Time some of the container's tasks stalled waiting for memory (memory.pressure some total); no series without PSI.",
      "memoryPressureSomeSeconds",
    ),
  };
}

export type CgroupMetrics = ReturnType<typeof createCgroupMetrics>;
