// Leader election on a coordination.k8s.io Lease, for the one replica that deletes.
//
// Like client-go's leaderelection: every leaseDuration/3 the replica reads the Lease; the
// holder renews it (resourceVersion-conditional update, so two replicas cannot both win);
// another replica takes it over only after it saw the Lease unchanged for a whole
// leaseDuration by its own monotonic clock (no trust in other replicas' wall clocks). A
// leader that cannot renew within the renew deadline (2/3 of leaseDuration, like
// client-go's 10 s of 15 s) steps down before anyone may take over, so two leaders never
// overlap while the clocks run at the same rate. stop({ release: true }) hands
// the Lease back at once; a killed leader is replaced within about leaseDuration + period.
import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from "@kubernetes/client-node";
import type { Clock, Timer } from "../../shared/clock.ts";
import { statusOf, timeoutOptions } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { RetentionMetrics } from "./metrics.ts";

export interface LeaseRecord {
  holder: string;
  durationSeconds: number;
  renewTimeMs: number;
  acquireTimeMs: number;
  transitions: number;
  resourceVersion: string;
}

export interface LeaseStore {
  get(): Promise<LeaseRecord | undefined>;
  /** Fails with 409 when it exists. */
  create(record: Omit<LeaseRecord, "resourceVersion">): Promise<LeaseRecord>;
  /** Fails with 409 when the Lease changed since `resourceVersion`. */
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

const msOf = (v: unknown): number =>
  v === undefined || v === null ? 0 : new Date(v as string).getTime() || 0;

function fromLease(lease: V1Lease): LeaseRecord {
  return {
    holder: lease.spec?.holderIdentity ?? "",
    durationSeconds: lease.spec?.leaseDurationSeconds ?? 0,
    renewTimeMs: msOf(lease.spec?.renewTime),
    acquireTimeMs: msOf(lease.spec?.acquireTime),
    transitions: lease.spec?.leaseTransitions ?? 0,
    resourceVersion: lease.metadata?.resourceVersion ?? "",
  };
}

/**
 * `timeoutMs` must be well under the renew deadline: a hung request must not keep a
 * leader from noticing that it could not renew.
 */
export function kubeLeaseStore(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  timeoutMs = 5_000,
): LeaseStore {
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  const timeout = timeoutOptions(timeoutMs);
  const body = (r: Omit<LeaseRecord, "resourceVersion">, resourceVersion?: string): V1Lease => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: {
      holderIdentity: r.holder,
      leaseDurationSeconds: r.durationSeconds,
      renewTime: new V1MicroTime(r.renewTimeMs),
      acquireTime: new V1MicroTime(r.acquireTimeMs),
      leaseTransitions: r.transitions,
    },
  });
  return {
    async get() {
      try {
        return fromLease(await api.readNamespacedLease({ name, namespace }, timeout));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async create(record) {
      return fromLease(await api.createNamespacedLease({ namespace, body: body(record) }, timeout));
    },
    async update(record) {
      return fromLease(
        await api.replaceNamespacedLease(
          { name, namespace, body: body(record, record.resourceVersion) },
          timeout,
        ),
      );
    },
  };
}

export interface LeaderElectorOptions {
  store: LeaseStore;
  identity: string;
  leaseDurationMs: number;
  clock: Clock;
  log: Logger;
  metrics: Pick<RetentionMetrics, "leader">;
}

export class LeaderElector {
  #o: LeaderElectorOptions;
  #leader = false;
  #listeners: ((leader: boolean) => void)[] = [];
  #timer: Timer | undefined;
  #running = false;
  #tick: Promise<void> = Promise.resolve();
  #observed: { key: string; atMono: number } | undefined;
  #lastRenewMono = 0;

  constructor(options: LeaderElectorOptions) {
    this.#o = options;
  }

  get identity(): string {
    return this.#o.identity;
  }

  isLeader(): boolean {
    return this.#leader;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** A leader that has not renewed for this long steps down. */
  get renewDeadlineMs(): number {
    return Math.floor((this.#o.leaseDurationMs * 2) / 3);
  }

  get periodMs(): number {
    return Math.max(1, Math.floor(this.#o.leaseDurationMs / 3));
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#run();
  }

  /** Resolves when the current election round has finished (tests, shutdown). */
  settled(): Promise<void> {
    return this.#tick;
  }

  #run(): void {
    this.#tick = this.#round().finally(() => {
      if (this.#running) this.#timer = this.#o.clock.setTimeout(() => this.#run(), this.periodMs);
    });
  }

  #set(leader: boolean, why: string): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
    this.#o.metrics.leader.set(leader ? 1 : 0);
    this.#o.log.info(
      { identity: this.#o.identity, leader, why },
      leader ? "became GC leader" : "stopped being GC leader",
    );
    for (const l of this.#listeners) {
      try {
        l(leader);
      } catch (err) {
        this.#o.log.error({ err }, "leader change listener failed");
      }
    }
  }

  async #round(): Promise<void> {
    const { store, clock, identity } = this.#o;
    const durationSeconds = Math.max(1, Math.ceil(this.#o.leaseDurationMs / 1000));
    try {
      const current = await store.get();
      const mono = clock.monotonic();
      const now = clock.now();
      if (!current) {
        await store.create({
          holder: identity,
          durationSeconds,
          renewTimeMs: now,
          acquireTimeMs: now,
          transitions: 0,
        });
        this.#lastRenewMono = mono;
        this.#set(true, "created the lease");
        return;
      }
      const key = `${current.holder}|${current.renewTimeMs}|${current.resourceVersion}`;
      if (this.#observed?.key !== key) this.#observed = { key, atMono: mono };
      if (current.holder === identity) {
        await store.update({ ...current, renewTimeMs: now, durationSeconds });
        this.#lastRenewMono = mono;
        this.#set(true, "renewed the lease");
        return;
      }
      const expired =
        current.holder === "" || mono - this.#observed.atMono >= Math.max(current.durationSeconds * 1000, 1);
      if (!expired) {
        this.#set(false, `lease held by ${current.holder}`);
        return;
      }
      await store.update({
        ...current,
        holder: identity,
        durationSeconds,
        renewTimeMs: now,
        acquireTimeMs: now,
        transitions: current.transitions + 1,
      });
      this.#lastRenewMono = mono;
      this.#o.log.info({ identity, previous: current.holder }, "took over the GC lease from a silent holder");
      this.#set(true, "took over an expired lease");
    } catch (err) {
      const status = statusOf(err);
      if (status === 409) {
        this.#set(false, "another replica updated the lease first");
        return;
      }
      this.#o.log.warn(
        { err: err instanceof Error ? err.message.split("\n")[0] : String(err), status },
        "cannot read or renew the GC lease; check RBAC (get/create/update leases.coordination.k8s.io) and API health",
      );
      if (this.#leader && clock.monotonic() - this.#lastRenewMono >= this.renewDeadlineMs) {
        this.#set(false, "could not renew the lease before the renew deadline");
      }
    }
  }

  /** Stops electing; with release the Lease is handed back so another replica takes over at once. */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.#running = false;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#tick;
    if (this.#leader && options.release) {
      try {
        const current = await this.#o.store.get();
        if (current?.holder === this.#o.identity) {
          await this.#o.store.update({
            ...current,
            holder: "",
            durationSeconds: 1,
            renewTimeMs: this.#o.clock.now(),
          });
        }
      } catch (err) {
        this.#o.log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          "could not release the GC lease",
        );
      }
    }
    this.#set(false, "stopped");
  }
}
