// The ConfigMaps the journals live in, behind a small interface (ADR 0014): one per replica,
// `kernel-gossip-aggregator-journal-<identity>`, labelled with the family so they can be
// listed, annotated with the name of the replica's write-budget Lease (whether that replica is
// alive is judged by its Lease). Every write and delete carries the resourceVersion last seen.
// The journal is gzipped JSON in binaryData["entries.json.gz"] (about a third of its JSON);
// to read one: kubectl get cm NAME -o jsonpath='{.binaryData.entries\.json\.gz}' | base64 -d | gunzip
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import { statusOf, timeoutOptions } from "../../shared/kube.ts";
import { JOURNAL_DATA_KEY } from "./format.ts";

export const JOURNAL_LABEL = "kernel-gossip.io/aggregator-journal";
export const JOURNAL_LEASE_ANNOTATION = "kernel-gossip.io/replica-lease";
/** The label value and name prefix of the journals. */
export const JOURNAL_FAMILY = "kernel-gossip-aggregator-journal";

export interface StoredJournal {
  name: string;
  resourceVersion: string;
  /** The write-budget Lease of the replica that writes it. */
  lease: string;
  /** The gzipped journal data (format.ts), as stored in binaryData. */
  data: Buffer | undefined;
}

export interface JournalStore {
  /** Every journal in the namespace (the family's label). */
  list(): Promise<StoredJournal[]>;
  /** The journal, or undefined when it does not exist. */
  get(name: string): Promise<StoredJournal | undefined>;
  /**
   * Writes `data`: replaces the journal if `resourceVersion` is set (409 when it changed, 404
   * when it is gone), creates it otherwise (409 when it exists). Returns the new resourceVersion.
   */
  put(name: string, lease: string, data: Buffer, resourceVersion: string | undefined): Promise<string>;
  /** Deletes the journal if its resourceVersion is still `resourceVersion` (409 otherwise; 404 is fine). */
  delete(name: string, resourceVersion: string): Promise<void>;
}

/** The journal of the replica whose write-budget Lease is `leaseName` (replicaLeaseName). */
export function journalName(leaseName: string, leaseFamily: string): string {
  return `${JOURNAL_FAMILY}${leaseName.slice(leaseFamily.length)}`.slice(0, 253);
}

export function kubeJournalStore(kubeConfig: KubeConfig, namespace: string, timeoutMs = 5_000): JournalStore {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const timeout = timeoutOptions(timeoutMs);
  const read = (c: V1ConfigMap): StoredJournal => ({
    name: c.metadata?.name ?? "",
    resourceVersion: c.metadata?.resourceVersion ?? "",
    lease: c.metadata?.annotations?.[JOURNAL_LEASE_ANNOTATION] ?? "",
    data: c.binaryData?.[JOURNAL_DATA_KEY]
      ? Buffer.from(c.binaryData[JOURNAL_DATA_KEY], "base64")
      : undefined,
  });
  return {
    async list() {
      const list = await api.listNamespacedConfigMap(
        { namespace, labelSelector: `${JOURNAL_LABEL}=${JOURNAL_FAMILY}` },
        timeout,
      );
      return list.items.map(read);
    },
    async get(name) {
      try {
        return read(await api.readNamespacedConfigMap({ name, namespace }, timeout));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async put(name, lease, data, resourceVersion) {
      const body: V1ConfigMap = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name,
          namespace,
          labels: { [JOURNAL_LABEL]: JOURNAL_FAMILY },
          annotations: { [JOURNAL_LEASE_ANNOTATION]: lease },
          ...(resourceVersion !== undefined && { resourceVersion }),
        },
        binaryData: { [JOURNAL_DATA_KEY]: data.toString("base64") },
      };
      const stored =
        resourceVersion === undefined
          ? await api.createNamespacedConfigMap({ namespace, body }, timeout)
          : await api.replaceNamespacedConfigMap({ name, namespace, body }, timeout);
      return stored.metadata?.resourceVersion ?? "";
    },
    async delete(name, resourceVersion) {
      try {
        await api.deleteNamespacedConfigMap(
          { name, namespace, body: { preconditions: { resourceVersion } } },
          timeout,
        );
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    },
  };
}
