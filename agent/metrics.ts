// Every metric the agent exports, registered on the one registry of the process. The
// dashboard and alert tests read the names from here, so a renamed metric fails them.
import type { Registry } from "prom-client";
import { createCgroupMetrics } from "./cgroup/metrics.ts";
import { createLinkMetrics } from "./link/metrics.ts";
import { createPodsMetrics } from "./pods/metrics.ts";
import { createQueueMetrics } from "./queue/metrics.ts";
import { createSpoolMetrics } from "./spool/metrics.ts";

export function createAgentMetrics(registry: Registry) {
  return {
    pods: createPodsMetrics(registry),
    queue: createQueueMetrics(registry),
    cgroup: createCgroupMetrics(registry),
    link: createLinkMetrics(registry),
    spool: createSpoolMetrics(registry),
  };
}

export type AgentMetrics = ReturnType<typeof createAgentMetrics>;
