/**
 * A local Kubernetes API server for tests and the demo. See README.md.
 *
 *   const api = await startKubeApi();
 *   // kubectl --kubeconfig api.kubeconfigPath get pods
 *   await api.close();
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Authenticator, type TokenSpec } from "./auth.ts";
import { Crds, defaultCrd, isCrd, validateCrd } from "./crd.ts";
import { Deletes } from "./deletes.ts";
import { Counters, Faults } from "./faults.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { Registry } from "./registry.ts";
import { Resources } from "./resources.ts";
import { createApiServer } from "./server.ts";
import { Store, StoreView } from "./store.ts";
import { selfSignedCert } from "./tls.ts";
import { type KObj, nowTime } from "./types.ts";
import { Writes } from "./writes.ts";

export { serviceAccountToken, type TokenSpec } from "./auth.ts";
export type { FailRule, WatchFilter } from "./faults.ts";

export interface KubeApiOptions {
  /** default 0: an ephemeral port on 127.0.0.1 */
  port?: number;
  host?: string;
  /** default: kubeconfig in a fresh temp dir, removed on close() */
  kubeconfigPath?: string;
  tokens?: TokenSpec[];
  /** default 60000, like the real server's ~1 minute */
  bookmarkIntervalMs?: number;
  /** watch history kept for replay (events), default 10000 */
  historyWindow?: number;
  clock?: () => number;
  /** default true. kubectl sends tokens only over TLS; plain http is for raw HTTP clients. */
  tls?: boolean;
}

export interface KubeApi {
  url: string;
  kubeconfigPath: string;
  /** PEM of the self-signed serving certificate (also in the kubeconfig), undefined without TLS */
  caCert: string | undefined;
  adminToken: string;
  faults: Faults;
  counters: Counters;
  store: StoreView;
  /** add an identity after start-up */
  addToken(t: TokenSpec): void;
  /**
   * Acts as the node's kubelet once a Terminating pod's containers stopped: the delete with
   * gracePeriodSeconds=0 (MODIFIED, then DELETED). A gracefully deleted pod bound to a node
   * stays until this (or a forced delete) happens. False when the pod is not Terminating.
   */
  confirmPodDeletion(namespace: string, name: string): boolean;
  close(): Promise<void>;
}

const SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

export async function startKubeApi(o: KubeApiOptions = {}): Promise<KubeApi> {
  const clock = o.clock ?? Date.now;
  const store = new Store(o.historyWindow ?? 10_000);
  const registry = new Registry();
  const crds = new Crds(store, registry, clock);
  const adminToken = `admin-${randomBytes(16).toString("hex")}`;
  const auth = new Authenticator(o.tokens ?? [], adminToken, (ns, name) => store.get("/pods", ns, name));
  const faults = new Faults(() => {
    store.compact();
    return { rv: store.rv };
  }, clock);
  const counters = new Counters();
  const removeCrd = (crd: KObj): void => {
    crds.remove(crd);
    // watches on a resource that is no longer served end, as on a real server
    faults.dropWatches({ resource: crd.spec?.names?.plural, graceful: true });
  };
  const deletes = new Deletes(store, registry, clock, { removeCrd });
  const writes = new Writes(store, clock, {
    beforeWrite(rt, obj) {
      if (!isCrd(rt)) return [];
      defaultCrd(obj);
      return validateCrd(obj);
    },
    afterWrite(rt, obj) {
      if (isCrd(rt)) crds.established(obj);
      // like the real GC, dependents of owners that do not exist (any more) are collected
      if (obj.metadata.ownerReferences?.length) deletes.scheduleGc();
    },
    finalize(rt, obj) {
      if (isCrd(rt)) removeCrd(obj);
    },
  });
  const env = {
    store,
    faults,
    bookmarkIntervalMs: o.bookmarkIntervalMs ?? 60_000,
    clock,
    present: Resources.present,
  };
  const resources = new Resources(store, registry, writes, deletes, auth, env);
  for (const name of SYSTEM_NAMESPACES) {
    store.put("/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name,
        uid: crypto.randomUUID(),
        creationTimestamp: nowTime(clock),
        labels: { "kubernetes.io/metadata.name": name },
      },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    });
  }
  let hostPort = "";
  const host = o.host ?? "127.0.0.1";
  const tls = o.tls === false ? undefined : selfSignedCert({ ips: ["127.0.0.1"], dns: ["localhost"] });
  const server = createApiServer({
    auth,
    registry,
    faults,
    counters,
    resources,
    tls,
    hostPort: () => hostPort,
  });
  // Every raw socket, also those still in the TLS handshake (closeAllConnections only
  // knows sockets the HTTP layer has seen), so that close() never waits on one.
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    counters.inc("accept", "connections");
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  hostPort = `${host}:${addr.port}`;
  const url = `${tls ? "https" : "http"}://${hostPort}`;
  let tmp: string | undefined;
  let kubeconfigPath = o.kubeconfigPath;
  if (!kubeconfigPath) {
    tmp = await mkdtemp(join(tmpdir(), "kube-api-"));
    kubeconfigPath = join(tmp, "kubeconfig.yaml");
  }
  await writeKubeconfig(kubeconfigPath, url, adminToken, tls?.cert);
  let closed = false;
  return {
    url,
    kubeconfigPath,
    caCert: tls?.cert,
    adminToken,
    faults,
    counters,
    store: new StoreView(store),
    addToken: (t) => auth.add(t),
    confirmPodDeletion: (namespace, name) => deletes.confirmPodDeletion(namespace, name),
    async close() {
      if (closed) return;
      closed = true;
      deletes.close();
      for (const w of [...faults.watches]) w.drop(true);
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await done;
      if (tmp) await rm(tmp, { recursive: true, force: true });
    },
  };
}
