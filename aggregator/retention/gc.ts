// Retention: the leader deletes KernelWhispers not seen for the retention period, and keeps
// the total under --max-whispers by deleting the oldest resolved ones first (then the
// oldest seen). Each delete is preceded by an audit log line and carries the listed
// resourceVersion as a precondition, so a whisper updated since the list is kept.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { Clock, Timer } from "../../shared/clock.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS, statusOf, timeoutOptions } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import { GROUP, type KObj, VERSION, WHISPER_PLURAL } from "../emit/whisper.ts";
import type { RetentionMetrics } from "./metrics.ts";

export interface WhisperStore {
  /** Every KernelWhisper in the cluster (paged). */
  list(): Promise<KObj[]>;
  /** Deletes if still at resourceVersion; 404/409 are reported as thrown errors. */
  delete(namespace: string, name: string, resourceVersion: string): Promise<void>;
}

export function kubeWhisperStore(
  kubeConfig: KubeConfig,
  pageSize = 500,
  timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): WhisperStore {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const timeout = timeoutOptions(timeoutMs);
  return {
    async list() {
      const items: KObj[] = [];
      let token: string | undefined;
      do {
        const page = (await api.listClusterCustomObject(
          {
            group: GROUP,
            version: VERSION,
            plural: WHISPER_PLURAL,
            limit: pageSize,
            ...(token ? { _continue: token } : {}),
          },
          timeout,
        )) as KObj;
        items.push(...((page.items as KObj[] | undefined) ?? []));
        token = page.metadata?.continue || undefined;
      } while (token);
      return items;
    },
    async delete(namespace, name, resourceVersion) {
      await api.deleteNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: WHISPER_PLURAL,
          namespace,
          name,
          body: { preconditions: { resourceVersion } },
        },
        timeout,
      );
    },
  };
}

export interface RetentionGcOptions {
  store: WhisperStore;
  isLeader: () => boolean;
  clock: Clock;
  log: Logger;
  metrics: Pick<RetentionMetrics, "gcDeleted">;
  retentionMs: number;
  intervalMs: number;
  maxWhispers: number;
}

interface Candidate {
  namespace: string;
  name: string;
  resourceVersion: string;
  lastSeenMs: number;
  lastSeen: string;
  resolved: boolean;
}

function candidateOf(o: KObj): Candidate | undefined {
  const name = o.metadata?.name;
  const namespace = o.metadata?.namespace;
  if (typeof name !== "string" || typeof namespace !== "string") return undefined;
  const lastSeen = String(o.status?.lastSeen ?? o.metadata?.creationTimestamp ?? "");
  const conditions = Array.isArray(o.status?.conditions) ? (o.status.conditions as KObj[]) : [];
  return {
    namespace,
    name,
    resourceVersion: String(o.metadata?.resourceVersion ?? ""),
    lastSeen,
    lastSeenMs: new Date(lastSeen).getTime() || 0,
    resolved: conditions.some((c) => c.type === "Resolved" && c.status === "True"),
  };
}

export interface GcResult {
  listed: number;
  expired: number;
  overBound: number;
}

export class RetentionGc {
  #o: RetentionGcOptions;
  #timer: Timer | undefined;
  #running = false;
  #round: Promise<GcResult | undefined> = Promise.resolve(undefined);

  constructor(options: RetentionGcOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#round = (this.#o.isLeader() ? this.runOnce() : Promise.resolve(undefined))
        .catch((err: unknown) => {
          this.#o.log.warn(
            { err: err instanceof Error ? err.message.split("\n")[0] : String(err) },
            "retention GC round failed; retrying next interval (check RBAC: list/delete kernelwhispers)",
          );
          return undefined;
        })
        .finally(() => {
          if (this.#running) this.#schedule();
        });
    }, this.#o.intervalMs);
  }

  /** Resolves when the current round finished (tests, shutdown). */
  settled(): Promise<GcResult | undefined> {
    return this.#round;
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  /** One pass: delete expired whispers, then the oldest over the bound. Leader only. */
  async runOnce(): Promise<GcResult> {
    const { log, clock } = this.#o;
    const all = (await this.#o.store.list()).map(candidateOf).filter((c): c is Candidate => c !== undefined);
    const cutoff = clock.now() - this.#o.retentionMs;
    let expired = 0;
    const kept: Candidate[] = [];
    for (const c of all) {
      if (c.lastSeenMs >= cutoff) {
        kept.push(c);
        continue;
      }
      if (!this.#o.isLeader()) break;
      log.info(
        { name: c.name, namespace: c.namespace, lastSeen: c.lastSeen },
        "deleting expired KernelWhisper",
      );
      if (await this.#delete(c)) expired++;
    }
    let overBound = 0;
    const excess = kept.length - this.#o.maxWhispers;
    if (excess > 0) {
      kept.sort((a, b) => Number(b.resolved) - Number(a.resolved) || a.lastSeenMs - b.lastSeenMs);
      for (const c of kept.slice(0, excess)) {
        if (!this.#o.isLeader()) break;
        log.info(
          {
            name: c.name,
            namespace: c.namespace,
            lastSeen: c.lastSeen,
            resolved: c.resolved,
            maxWhispers: this.#o.maxWhispers,
          },
          "deleting KernelWhisper over the --max-whispers bound",
        );
        if (await this.#delete(c)) overBound++;
      }
    }
    return { listed: all.length, expired, overBound };
  }

  async #delete(c: Candidate): Promise<boolean> {
    try {
      await this.#o.store.delete(c.namespace, c.name, c.resourceVersion);
      this.#o.metrics.gcDeleted.inc();
      return true;
    } catch (err) {
      const status = statusOf(err);
      if (status === 404 || status === 409) {
        this.#o.log.info(
          { name: c.name, namespace: c.namespace, status },
          "whisper changed or vanished since listed; kept",
        );
        return false;
      }
      throw err;
    }
  }
}
