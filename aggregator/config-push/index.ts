// Watches the agent ConfigMap and turns each good version into a Config frame pushed to
// every agent (by the stream server, through the ConfigSourcePort). The watch is supervised
// like every watch: list, then watch from the list's resourceVersion with bookmarks; any
// end or error restarts it after a jittered backoff (at once after 410 Gone), and a watch
// silent for staleAfterMs is restarted too. A bad ConfigMap keeps the last good config.
import { CoreV1Api, type KubeConfig, type V1ConfigMap, Watch } from "@kubernetes/client-node";
import { Backoff } from "../../shared/backoff.ts";
import type { Clock, Timer } from "../../shared/clock.ts";
import { statusOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { ConfigFrame } from "../../shared/proto.ts";
import type { ConfigSourcePort } from "../stream/index.ts";
import type { ConfigPushMetrics } from "./metrics.ts";
import { parseAgentConfig } from "./parse.ts";

export { type ConfigPushMetrics, createConfigPushMetrics } from "./metrics.ts";
export { CONFIG_KEYS, type ConfigProblem, parseAgentConfig } from "./parse.ts";

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
  #core: CoreV1Api;
  #watch: Watch;
  #backoff: Backoff;
  #listeners: ((config: ConfigFrame) => void)[] = [];
  #current: ConfigFrame | undefined;
  #version = "";
  #abort: AbortController | undefined;
  #restart: Timer | undefined;
  #stale: Timer | undefined;
  #generation = 0;
  #stopped = false;

  constructor(deps: AgentConfigSourceDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: "config-push", configMap: `${deps.namespace}/${deps.name}` });
    this.#core = deps.kubeConfig.makeApiClient(CoreV1Api);
    this.#watch = new Watch(deps.kubeConfig);
    this.#backoff = deps.backoff ?? new Backoff();
  }

  /** The last good config; undefined until a valid ConfigMap was seen ({version: ""} after deletion). */
  current(): ConfigFrame | undefined {
    return this.#current;
  }

  onChange(listener: (config: ConfigFrame) => void): void {
    this.#listeners.push(listener);
  }

  /** Resolves after the first list attempt (whatever its outcome; the watch keeps trying). */
  start(): Promise<void> {
    return this.#run();
  }

  stop(): void {
    this.#stopped = true;
    this.#generation++;
    this.#abort?.abort();
    for (const timer of [this.#restart, this.#stale]) if (timer) this.#deps.clock.clearTimeout(timer);
  }

  async #run(): Promise<void> {
    this.#restart = undefined;
    if (this.#stopped) return;
    const generation = ++this.#generation;
    const { namespace, name } = this.#deps;
    const fieldSelector = `metadata.name=${name}`;
    let resourceVersion: string;
    try {
      const list = await this.#core.listNamespacedConfigMap({ namespace, fieldSelector });
      if (generation !== this.#generation) return;
      const cm = list.items[0];
      if (cm) this.#apply(cm);
      else this.#absent("not found");
      resourceVersion = list.metadata?.resourceVersion ?? "";
      this.#backoff.reset();
    } catch (err) {
      if (generation !== this.#generation) return;
      this.#log.error(
        { err: (err as Error).message, status: statusOf(err) },
        "listing the agent ConfigMap failed (the aggregator needs list/watch on configmaps in its namespace); retrying",
      );
      this.#scheduleRestart("error", generation);
      return;
    }
    this.#touch(generation);
    try {
      this.#abort = await this.#watch.watch(
        `/api/v1/namespaces/${namespace}/configmaps`,
        { fieldSelector, resourceVersion, allowWatchBookmarks: true },
        (phase, obj: V1ConfigMap & { code?: number }) => {
          if (generation !== this.#generation) return;
          this.#touch(generation);
          if (phase === "ADDED" || phase === "MODIFIED") this.#apply(obj);
          else if (phase === "DELETED") this.#absent("deleted");
          else if (phase === "ERROR") {
            const gone = obj.code === 410;
            this.#log.info({ code: obj.code }, "agent ConfigMap watch ended with an error event; relisting");
            this.#scheduleRestart(gone ? "gone" : "error", generation, gone ? 0 : undefined);
          }
        },
        (err: unknown) => {
          if (generation !== this.#generation || this.#stopped) return;
          if (err)
            this.#log.warn({ err: (err as Error).message }, "agent ConfigMap watch failed; restarting");
          this.#scheduleRestart(err ? "error" : "closed", generation);
        },
      );
    } catch (err) {
      if (generation !== this.#generation) return;
      this.#log.warn({ err: (err as Error).message }, "starting the agent ConfigMap watch failed; retrying");
      this.#scheduleRestart("error", generation);
    }
  }

  #touch(generation: number): void {
    const { clock } = this.#deps;
    if (this.#stale) clock.clearTimeout(this.#stale);
    this.#stale = clock.setTimeout(
      () => {
        if (generation !== this.#generation) return;
        this.#log.warn("agent ConfigMap watch silent for too long (no event or bookmark); restarting it");
        this.#scheduleRestart("stale", generation, 0);
      },
      this.#deps.staleAfterMs ?? 5 * 60_000,
    );
  }

  #scheduleRestart(cause: string, generation: number, delayMs?: number): void {
    if (generation !== this.#generation || this.#stopped) return;
    this.#generation++; // anything the old watch still says is ignored
    this.#abort?.abort();
    this.#abort = undefined;
    if (this.#stale) this.#deps.clock.clearTimeout(this.#stale);
    this.#deps.metrics.watchRestarts.inc({ cause });
    const delay = delayMs ?? this.#backoff.next();
    this.#restart = this.#deps.clock.setTimeout(() => void this.#run(), delay);
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
