// Watches the agent ConfigMap and turns each good version into a Config frame pushed to
// every agent (by the stream server, through the ConfigSourcePort). The watch is the
// product's one supervised list+watch (shared/supervised-watch.ts): backoff, consistent
// relist after 410, stale restart. A bad ConfigMap keeps the last good config.
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import type { Backoff } from "../../shared/backoff.ts";
import type { Clock } from "../../shared/clock.ts";
import { kubeHttpOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { ConfigFrame } from "../../shared/proto.ts";
import { SupervisedWatch } from "../../shared/supervised-watch.ts";
import type { ConfigSourcePort } from "../stream/index.ts";
import type { ConfigPushMetrics } from "./metrics.ts";
import { parseAgentConfig } from "./parse.ts";

export { createConfigPushMetrics } from "./metrics.ts";

export interface AgentConfigSourceDeps {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  clock: Clock;
  log: Logger;
  metrics: ConfigPushMetrics;
  /** Restart the watch when nothing (not even a bookmark) arrived for this long. */
  staleAfterMs?: number;
  backoff?: Backoff;
}

export class AgentConfigSource implements ConfigSourcePort {
  #deps: AgentConfigSourceDeps;
  #log: Logger;
  #watch: SupervisedWatch<V1ConfigMap>;
  #listeners: ((config: ConfigFrame) => void)[] = [];
  #current: ConfigFrame | undefined;
  #version = "";
  #firstAttempt: () => void = () => {};

  constructor(deps: AgentConfigSourceDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: "config-push", configMap: `${deps.namespace}/${deps.name}` });
    const core = deps.kubeConfig.makeApiClient(CoreV1Api);
    const { namespace, name } = deps;
    const fieldSelector = `metadata.name=${name}`;
    this.#watch = new SupervisedWatch<V1ConfigMap>({
      watcher: kubeHttpOf(deps.kubeConfig),
      clock: deps.clock,
      log: this.#log,
      what: `agent ConfigMap ${namespace}/${name} (the aggregator needs list/watch on configmaps in its namespace)`,
      list: (resourceVersion) => core.listNamespacedConfigMap({ namespace, fieldSelector, resourceVersion }),
      watchPath: `/api/v1/namespaces/${namespace}/configmaps`,
      watchQuery: { fieldSelector },
      staleAfterMs: deps.staleAfterMs ?? 150_000,
      ...(deps.backoff && { backoff: deps.backoff }),
      onList: (items) => {
        const cm = items[0];
        if (cm) this.#apply(cm);
        else this.#absent("not found");
      },
      onWatching: () => this.#firstAttempt(),
      onUpsert: (cm) => this.#apply(cm),
      onDelete: () => this.#absent("deleted"),
      onRestart: (cause) => {
        deps.metrics.watchRestarts.inc({ cause });
        this.#firstAttempt();
      },
    });
  }

  /** The last good config; undefined until a valid ConfigMap was seen ({version: ""} after deletion). */
  current(): ConfigFrame | undefined {
    return this.#current;
  }

  onChange(listener: (config: ConfigFrame) => void): void {
    this.#listeners.push(listener);
  }

  /** Resolves once the first watch is established, or the first attempt failed (the watch keeps trying). */
  start(): Promise<void> {
    const attempted = new Promise<void>((resolve) => {
      this.#firstAttempt = () => {
        this.#firstAttempt = () => {};
        resolve();
      };
    });
    this.#watch.start();
    return attempted;
  }

  stop(): void {
    this.#watch.stop();
    this.#firstAttempt();
  }

  #apply(cm: V1ConfigMap): void {
    const version = cm.metadata?.resourceVersion ?? "";
    if (version !== "" && version === this.#version) return;
    const parsed = parseAgentConfig(cm.data, version);
    if (!parsed.ok) {
      this.#deps.metrics.reloads.inc({ outcome: "invalid" });
      for (const p of parsed.problems) {
        this.#log.error(
          { key: p.key, value: p.value, why: p.why, version, keeping: this.#current?.version ?? "(none)" },
          `agent ConfigMap key "${p.key}" = ${JSON.stringify(p.value)} rejected: ${p.why}; agents keep config version ${JSON.stringify(this.#current?.version ?? "(local defaults)")}`,
        );
      }
      this.#version = version;
      return;
    }
    this.#version = version;
    for (const d of parsed.deprecations) this.#log.warn({ version }, d);
    this.#deps.metrics.reloads.inc({ outcome: "applied" });
    this.#log.info(
      { version, keys: Object.keys(cm.data ?? {}) },
      "agent config loaded; pushing it to agents",
    );
    this.#publish(parsed.frame);
  }

  #absent(why: "not found" | "deleted"): void {
    if (why === "not found" && this.#current === undefined) {
      this.#log.info("no agent ConfigMap; agents use their local settings");
      return;
    }
    if (this.#current?.version === "") return;
    this.#deps.metrics.reloads.inc({ outcome: "deleted" });
    this.#log.warn("agent ConfigMap deleted; agents go back to their local settings");
    this.#version = "";
    this.#publish({ version: "" });
  }

  #publish(frame: ConfigFrame): void {
    this.#current = frame;
    for (const listener of this.#listeners) {
      try {
        listener(frame);
      } catch (err) {
        this.#log.error({ err }, "a config listener failed");
      }
    }
  }
}
