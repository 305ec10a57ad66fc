// Metrics of the pod watch and the birth recorder. Names are the project's contract.
import { Counter, Gauge, type Registry } from "../../shared/metrics.ts";

/** What the watch gauges read at scrape time. */
export interface WatchLevel {
  /** Seconds since the last event, bookmark or list; undefined before the first. */
  lastEventAgeSeconds(): number | undefined;
  podCount(): number;
}

export function createPodsMetrics(registry: Registry) {
  let level: WatchLevel | undefined;
  return {
    watchRestarts: new Counter({
      name: "kernel_gossip_agent_watch_restarts_total",
      help: "Restarts of the pod watch by cause: error (request failed), stale (silent too long), gone (410, relisted), closed (ended by the server, resumed).",
      labelNames: ["cause"] as const,
      registers: [registry],
    }),
    lastEventAge: new Gauge({
      name: "kernel_gossip_agent_watch_last_event_age_seconds",
      help: "Seconds since the pod watch last received an event, a bookmark or a list (grows without bound on a stuck watch).",
      registers: [registry],
      collect() {
        const age = level?.lastEventAgeSeconds();
        if (age === undefined) this.reset();
        else this.set(age);
      },
    }),
    podsWatched: new Gauge({
      name: "kernel_gossip_agent_pods_watched",
      help: "Pods on this node the agent currently knows (all namespaces, before scope).",
      registers: [registry],
      collect() {
        this.set(level?.podCount() ?? 0);
      },
    }),
    births: new Counter({
      name: "kernel_gossip_agent_births_total",
      help: "Birth certificates recorded, by outcome (ready, failed).",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    oomReportsNotCounted: new Counter({
      name: "kernel_gossip_agent_oom_reports_not_counted_total",
      help: "Kubelet OOMKilled terminations not counted as OOM kills, by cause: pod-deleted (stopped by the pod's deletion, no kill the kernel confirmed), kernel-counter-unchanged (the container's oom_kill counter did not move). containerd reports OOMKilled once any process in a container was ever OOM-killed.",
      labelNames: ["cause"] as const,
      registers: [registry],
    }),
    /** The pod watch registers itself here so the gauges read it at scrape time. */
    observeWatch(source: WatchLevel): void {
      level = source;
    },
  };
}

export type PodsMetrics = ReturnType<typeof createPodsMetrics>;
