// What a failed write means for its object (classifyWriteFailure in write-errors.ts says
// which kind of failure it was):
// - permanent — the namespace does not exist or is being deleted, 400/422, a body that cannot
//   be rendered: everything waiting on the object is answered with the reason (the batch is
//   acked, its events counted as dropped by the pipeline), logged once per namespace and
//   reason per 10 minutes, and the object is forgotten; a namespace found missing answers new
//   changes for it at once for NAMESPACE_GONE_MS without a request;
// - 409 (another replica wrote the object): re-read and written again with its count as the
//   new baseline; 404 on status (object deleted): created again;
// - 429, 5xx, other 403s, 404 of an unserved resource (CRDs missing), network errors: back
//   off (jittered, per object) and retry; the object counts as retrying until a write succeeds.
import { LRUCache } from "lru-cache";
import type { Clock } from "../../shared/clock.ts";
import { statusOf } from "../../shared/kube.ts";
import type { Logger } from "../../shared/log.ts";
import type { Entry, Phase } from "./write-entry.ts";
import { classifyWriteFailure, messageOf, retryAfterMs } from "./write-errors.ts";
import type { WriteOutcome, WriteWaiter } from "./write-waiter.ts";

/** After a write found an object's namespace missing, changes for it are answered without a request for this long. */
export const NAMESPACE_GONE_MS = 10_000;

/** Namespaces remembered as existing before the memory starts over. */
const NAMESPACES_KNOWN_MAX = 10_000;

export class WriteFailures {
  #clock: Clock;
  #log: Logger;
  /** Namespace → monotonic time until which it is known not to exist. */
  #goneNamespaces = new Map<string, number>();
  /** Namespaces an object was read or written in as existing, since no write found them missing. */
  #knownNamespaces = new Set<string>();
  /** Permanent failures logged recently, by reason and namespace (log once per 10 min). */
  #logged = new LRUCache<string, true>({ max: 10_000, ttl: 600_000 });

  constructor(clock: Clock, log: Logger) {
    this.#clock = clock;
    this.#log = log;
  }

  /** True while a write recently found the namespace of the object under `key` missing. */
  namespaceGone(key: string): boolean {
    if (this.#goneNamespaces.size === 0) return false;
    const namespace = key.split("/")[1] ?? "";
    const until = this.#goneNamespaces.get(namespace);
    if (until !== undefined && until > this.#clock.monotonic()) return true;
    this.#goneNamespaces.delete(namespace);
    return false;
  }

  /** The namespace holds an object that exists (read or written so): remembered until a write finds it missing. */
  namespaceExists(namespace: string): void {
    if (this.#knownNamespaces.has(namespace)) return;
    if (this.#knownNamespaces.size >= NAMESPACES_KNOWN_MAX) this.#knownNamespaces.clear();
    this.#knownNamespaces.add(namespace);
  }

  /** Whether an object was seen existing in `namespace` since a write last found it missing. */
  namespaceKnown(namespace: string): boolean {
    return this.#knownNamespaces.has(namespace);
  }

  /**
   * Handles a failed write of `entry` that had taken `taken`; returns the delay before the
   * retry (undefined: none — the failure was permanent and `forget` was called when the
   * entry has no timer pending).
   */
  failed(
    entry: Entry,
    err: unknown,
    taken: WriteWaiter[],
    phase: Phase,
    forget: (entry: Entry) => void,
  ): number | undefined {
    const status = statusOf(err);
    const doc = entry.doc;
    const what = { kind: doc.kind, namespace: doc.namespace, name: doc.name, status, phase };
    const failure = classifyWriteFailure(err, phase);
    if (failure.permanent) {
      const waiting = taken.concat(entry.waiters.splice(0));
      this.#logPermanent(failure.reason, what, err, waiting.length);
      if (failure.reason === "namespace_not_found") {
        this.#goneNamespaces.set(doc.namespace, this.#clock.monotonic() + NAMESPACE_GONE_MS);
        this.#knownNamespaces.delete(doc.namespace);
      }
      // Everything waiting on this object is answered: retrying the same body cannot help.
      for (const w of waiting) w.resolve(failure.reason);
      entry.dirty = false;
      entry.escalate = false;
      entry.failures = 0;
      // Forgotten: a later change starts from the cluster again (the namespace may be back).
      if (!entry.timer) forget(entry);
      return undefined;
    }
    entry.waiters.unshift(...taken);
    entry.dirty = true;
    if (failure.reason === "conflict") {
      entry.loaded = false;
      entry.conflicts++;
      this.#log.debug(what, "write conflict: another replica wrote the object; re-reading it");
      return entry.conflicts <= 2 ? 0 : entry.backoff.next();
    }
    entry.failures++;
    if (failure.reason === "not_served") {
      const delay = entry.backoff.next();
      this.#log.error(
        { ...what, err: messageOf(err), retryInMs: delay },
        `the ${doc.kind} resource is not served: install the CRDs (kubectl apply -f crds/); retrying`,
      );
      return delay;
    }
    if (failure.reason === "gone" && doc.kind === "KernelWhisper") {
      entry.exists = false;
      entry.resourceVersion = undefined;
      doc.forgetCluster();
      this.#log.info(what, "whisper was deleted meanwhile; creating it again");
      const first = entry.backoff.attempt === 0;
      const delay = entry.backoff.next();
      return first ? 0 : delay;
    }
    const delay = Math.max(entry.backoff.next(), retryAfterMs(err));
    this.#log.warn(
      { ...what, err: messageOf(err), retryInMs: delay, attempt: entry.backoff.attempt },
      failure.reason === "forbidden"
        ? `${phase === "read" ? "reading" : "writing"} the custom resource is forbidden; retrying. Check the aggregator's RBAC for kernel.gossip.io (docs/crds.md)`
        : `${phase === "read" ? "reading" : "writing"} the custom resource failed; retrying with backoff`,
    );
    return delay;
  }

  /** One line per namespace and reason per 10 minutes: a deleted namespace may hold many objects. */
  #logPermanent(
    reason: WriteOutcome,
    what: Record<string, unknown> & { kind: string; namespace: string; name: string },
    err: unknown,
    waiting: number,
  ): void {
    const key = `${reason}/${what.namespace}`;
    if (this.#logged.has(key)) return;
    this.#logged.set(key, true);
    const detail = { ...what, reason, err: messageOf(err), batchesAnswered: waiting };
    const tail =
      "its events are acknowledged and counted in kernel_gossip_aggregator_events_dropped_total{reason}; further objects of this namespace failing the same way are not logged for 10 minutes";
    switch (reason) {
      case "namespace_not_found":
        this.#log.warn(
          detail,
          `the ${what.kind} ${what.namespace}/${what.name} cannot be written: namespace "${what.namespace}" does not exist (deleted after the event was seen?); dropped, ${tail}`,
        );
        return;
      case "namespace_terminating":
        this.#log.warn(
          detail,
          `the ${what.kind} ${what.namespace}/${what.name} cannot be written: namespace "${what.namespace}" is being deleted; dropped, ${tail}`,
        );
        return;
      case "unrenderable":
        this.#log.error(
          detail,
          `the ${what.kind} ${what.namespace}/${what.name} cannot be rendered (a value no custom resource can hold; an agent sent an out-of-range field the edge did not catch); dropped, ${tail}`,
        );
        return;
      default:
        this.#log.error(
          detail,
          `the API server refused the ${what.kind} ${what.namespace}/${what.name} as invalid; dropped, ${tail}. Check that the installed CRDs (crds/) match this aggregator version`,
        );
    }
  }
}
