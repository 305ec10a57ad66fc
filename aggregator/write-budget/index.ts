// The cluster-wide write budget, divided among the replicas that are alive (ADR 0011).
//
// `--write-qps` / `--write-burst` are for the whole cluster. Each replica keeps its own
// coordination.k8s.io Lease (`<lease-name>-replica-<identity>`, labelled with the family
// name) renewed every leaseDuration/3, lists the family, and sets its token bucket to
// qps / alive (burst likewise, at least 1). A Lease counts as alive while its
// resourceVersion changed within leaseDuration by this replica's own monotonic clock (no
// trust in other replicas' wall clocks); one seen for the first time counts at once (the
// safe side: a smaller share). A failed renew or list keeps the current share. A stopping replica
// deletes its Lease so the others take its share within one period; a killed one after
// leaseDuration. Between those moments the cluster can briefly exceed the budget by one
// replica's share (the API Priority and Fairness objects in deploy/ cap it regardless).
import { CoordinationV1Api, type KubeConfig, V1MicroTime } from "@kubernetes/client-node";
import { ChangeClock } from "../../shared/change-clock.ts";
import type { Clock, Timer } from "../../shared/clock.ts";
import { statusOf, timeoutOptions } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { TokenBucket } from "../../shared/token-bucket.ts";

export const REPLICA_LABEL = "kernel-gossip.io/aggregator-replicas";

export interface ReplicaLeaseStore {
  /** Creates or renews this replica's Lease. */
  renew(name: string, durationSeconds: number): Promise<void>;
  /** The family's Leases: name and resourceVersion. */
  list(): Promise<{ name: string; resourceVersion: string }[]>;
  /** Deletes this replica's Lease (404 is fine). */
  release(name: string): Promise<void>;
}

export function kubeReplicaLeaseStore(
  kubeConfig: KubeConfig,
  namespace: string,
  family: string,
  timeoutMs = 5_000,
): ReplicaLeaseStore {
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  const timeout = timeoutOptions(timeoutMs);
  const lease = (name: string, durationSeconds: number) => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name, namespace, labels: { [REPLICA_LABEL]: family } },
    spec: { holderIdentity: name, leaseDurationSeconds: durationSeconds, renewTime: new V1MicroTime() },
  });
  return {
    async renew(name, durationSeconds) {
      const body = lease(name, durationSeconds);
      try {
        await api.replaceNamespacedLease({ name, namespace, body }, timeout);
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
        await api.createNamespacedLease({ namespace, body }, timeout);
      }
    },
    async list() {
      const list = await api.listNamespacedLease(
        { namespace, labelSelector: `${REPLICA_LABEL}=${family}` },
        timeout,
      );
      return list.items.map((l) => ({
        name: l.metadata?.name ?? "",
        resourceVersion: l.metadata?.resourceVersion ?? "",
      }));
    },
    async release(name) {
      try {
        await api.deleteNamespacedLease({ name, namespace }, timeout);
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    },
  };
}

export interface WriteBudgetOptions {
  store: ReplicaLeaseStore;
  /** This replica's Lease name. */
  name: string;
  /** Cluster-wide writes per second and burst. */
  qps: number;
  burst: number;
  leaseDurationMs: number;
  bucket: TokenBucket;
  clock: Clock;
  log: Logger;
  /** Called with the number of replicas counted after each change. */
  onShare?: (replicas: number, qps: number) => void;
}

export class WriteBudget {
  #o: WriteBudgetOptions;
  #changes = new ChangeClock();
  #replicas = 0;
  #timer: Timer | undefined;
  #stopped = false;
  #tick: Promise<void> = Promise.resolve();
  #listedMono: number | undefined;

  constructor(options: WriteBudgetOptions) {
    this.#o = options;
  }

  /** Replicas counted alive (this one included; 0 before start). */
  get replicas(): number {
    return this.#replicas;
  }

  /**
   * Whether the replica owning Lease `lease` counts as alive: its Lease changed within the lease
   * duration by this replica's clock, or was seen for the first time. True for every Lease while
   * this replica's own last successful list is older than two periods (the safe side: nothing
   * is taken for orphaned on stale knowledge); the journal judges orphaned journals by it
   * (aggregator/journal).
   */
  alive(lease: string): boolean {
    if (lease === this.#o.name) return true;
    // Judged only on a fresh list: with this replica's own lists failing, every other Lease
    // would look stale.
    const now = this.#o.clock.monotonic();
    if (this.#listedMono === undefined || now - this.#listedMono > 2 * this.periodMs) return true;
    const changed = this.#changes.changedAt(lease);
    return changed !== undefined && now - changed <= this.#o.leaseDurationMs;
  }

  get periodMs(): number {
    return Math.max(100, Math.floor(this.#o.leaseDurationMs / 3));
  }

  start(): void {
    this.#apply(1);
    const loop = () => {
      if (this.#stopped) return;
      this.#tick = this.#refresh().finally(() => {
        if (!this.#stopped) this.#timer = this.#o.clock.setTimeout(loop, this.periodMs);
      });
    };
    loop();
  }

  /**
   * Stops renewing and deletes this replica's Lease so the others take its share at once;
   * `release: false` leaves it to expire (what a killed replica leaves behind).
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    const first = !this.#stopped;
    this.#stopped = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    await this.#tick;
    if (!first || options.release === false) return;
    try {
      await this.#o.store.release(this.#o.name);
    } catch (err) {
      this.#o.log.warn(
        { err: String(err), lease: this.#o.name },
        "could not delete this replica's write-budget Lease; the other replicas take its share after the lease duration",
      );
    }
  }

  async #refresh(): Promise<void> {
    const { store, name, log, clock } = this.#o;
    try {
      await store.renew(name, Math.ceil(this.#o.leaseDurationMs / 1000));
      const leases = await store.list();
      const now = clock.monotonic();
      this.#changes.observe(leases, now);
      this.#listedMono = now;
      let alive = 1; // this replica, whatever the list said
      for (const [n, changed] of this.#changes.changes()) {
        if (n !== name && now - changed <= this.#o.leaseDurationMs) alive++;
      }
      this.#apply(alive);
    } catch (err) {
      log.warn(
        { err: String(err), lease: name, replicas: this.#replicas },
        "could not renew or list the write-budget Leases; keeping the current share of the write budget. Check the aggregator's RBAC for leases (list, delete)",
      );
    }
  }

  #apply(replicas: number): void {
    const changed = replicas !== this.#replicas || this.#o.bucket.rate !== this.#o.qps / replicas;
    this.#replicas = replicas;
    if (!changed) return;
    const qps = this.#o.qps / replicas;
    this.#o.bucket.setRate(qps, Math.max(1, Math.floor(this.#o.burst / replicas)));
    this.#o.log.info(
      { replicas, qps: Math.round(qps * 100) / 100, clusterQps: this.#o.qps },
      `write budget: ${replicas} replica(s) alive, this one writes at most ${Math.round(qps * 100) / 100}/s of the cluster's ${this.#o.qps}/s`,
    );
    this.#o.onShare?.(replicas, qps);
  }
}

/** The label value (and name prefix) of the aggregators' write-budget Leases. */
export const WRITE_BUDGET_FAMILY = "kernel-gossip-aggregator-replica";

/** This replica's Lease name: the family and its identity, as a DNS-1123 subdomain. */
export function replicaLeaseName(identity: string): string {
  const safe = identity
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return `${WRITE_BUDGET_FAMILY}-${safe || "unnamed"}`.slice(0, 253).replace(/[^a-z0-9]+$/, "");
}
