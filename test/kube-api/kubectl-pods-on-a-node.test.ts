/**
 * kubectl against pods as a user would on a real cluster: apply pods bound to
 * nodes, select them by node, patch their status through the status
 * subresource, print them (-o wide), describe, watch and delete them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { kubectl, kubectlStream } from "./testing.ts";

const headers = (out: string) => (out.split("\n")[0] ?? "").trim().split(/\s{2,}/);

function pod(name: string, node: string): string {
  return [
    "apiVersion: v1",
    "kind: Pod",
    `metadata: {name: ${name}, namespace: shop, labels: {app: web}}`,
    `spec: {nodeName: ${node}, containers: [{name: app, image: "nginx:1.27"}]}`,
  ].join("\n");
}

const RUNNING = JSON.stringify({
  status: {
    phase: "Running",
    podIP: "10.1.2.3",
    conditions: [{ type: "Ready", status: "True" }],
    containerStatuses: [
      {
        name: "app",
        ready: true,
        restartCount: 2,
        image: "nginx:1.27",
        imageID: "",
        state: { running: { startedAt: "2024-01-01T00:00:00Z" } },
      },
    ],
  },
});

describe("kubectl with pods on nodes", () => {
  let api: KubeApi;
  beforeAll(async () => {
    api = await startKubeApi();
    await kubectl(api, ["create", "namespace", "shop"]);
    for (const [name, node] of [
      ["web-a", "node-a"],
      ["web-b", "node-b"],
    ] as const) {
      const r = await kubectl(api, ["apply", "-f", "-"], pod(name, node));
      expect(r.stdout).toBe(`pod/${name} created\n`);
    }
  });
  afterAll(() => api.close());

  it("prints the same columns as kube-apiserver, and selects pods by node", async () => {
    const r = await kubectl(api, ["get", "pods", "-n", "shop", "--field-selector", "spec.nodeName=node-a"]);
    // kube-apiserver: NAME    READY   STATUS    RESTARTS   AGE
    expect(headers(r.stdout)).toEqual(["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    expect(r.stdout).toMatch(/^web-a\s+0\/1\s+Pending\s+0\s+\d+s$/m);
    expect(r.stdout).not.toContain("web-b");
    const all = await kubectl(api, ["get", "pods", "-A", "--field-selector", "spec.nodeName!=node-a"]);
    expect(all.stdout).toMatch(/^shop\s+web-b\s+/m);
  });

  it("patches status through the status subresource and shows it with -o wide", async () => {
    const p = await kubectl(api, [
      "patch",
      "pod",
      "web-a",
      "-n",
      "shop",
      "--subresource=status",
      "--type=merge",
      "-p",
      RUNNING,
    ]);
    expect(p.stdout).toBe("pod/web-a patched\n");
    const r = await kubectl(api, ["get", "pod", "web-a", "-n", "shop", "-o", "wide"]);
    expect(headers(r.stdout)).toEqual([
      "NAME",
      "READY",
      "STATUS",
      "RESTARTS",
      "AGE",
      "IP",
      "NODE",
      "NOMINATED NODE",
      "READINESS GATES",
    ]);
    expect(r.stdout).toMatch(/^web-a\s+1\/1\s+Running\s+2\s+\d+s\s+10\.1\.2\.3\s+node-a\s+<none>\s+<none>$/m);
    const phase = await kubectl(api, [
      "get",
      "pods",
      "-n",
      "shop",
      "--field-selector",
      "status.phase=Running",
      "-o",
      "name",
    ]);
    expect(phase.stdout).toBe("pod/web-a\n");
    const ignored = await kubectl(api, [
      "patch",
      "pod",
      "web-b",
      "-n",
      "shop",
      "--type=merge",
      "-p",
      RUNNING,
    ]);
    expect(ignored.stdout).toBe("pod/web-b patched (no change)\n");
  });

  it("rejects unknown fields the way strict field validation does", async () => {
    const typo = pod("typo", "node-a").replace("image:", "imagee:");
    const r = await kubectl(api, ["apply", "-f", "-"], typo);
    expect(r.code).not.toBe(0);
    // kube-apiserver 1.32 prints exactly this for the same manifest
    expect(r.stderr).toBe(
      'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].imagee"\n',
    );
  });

  it("re-applies a changed manifest as a strategic merge patch", async () => {
    const r = await kubectl(
      api,
      ["apply", "-f", "-"],
      pod("web-b", "node-b").replace("nginx:1.27", "nginx:1.28"),
    );
    expect(r.stdout).toBe("pod/web-b configured\n");
    expect(api.store.get("", "pods", "shop", "web-b")?.spec.containers[0].image).toBe("nginx:1.28");
    expect(api.counters.get("patch", "pods")).toBeGreaterThan(0);
  });

  it("describes a pod", async () => {
    const r = await kubectl(api, ["describe", "pod", "web-a", "-n", "shop"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^Node:\s+node-a\/$/m);
    expect(r.stdout).toMatch(/^Status:\s+Running$/m);
    expect(r.stdout).toMatch(/^\s+Restart Count:\s+2$/m);
    expect(r.stdout).toMatch(/^QoS Class:\s+BestEffort$/m);
  });

  it("streams changes to kubectl get -w; a deleted pod bound to a node stays Terminating until its kubelet confirms", async () => {
    const w = kubectlStream(api, ["get", "pods", "-n", "shop", "-w"]);
    try {
      await w.waitFor(3);
      expect(headers(w.lines[0] ?? "")).toEqual(["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
      // kubectl delete waits (--wait=true) until the pod is gone, as on a real cluster.
      const deleting = kubectl(api, ["delete", "pod", "web-b", "-n", "shop"]);
      await w.waitFor(4);
      expect(w.lines.slice(3).join("\n")).toMatch(/^web-b\s+0\/1\s+Terminating\s+0/m);
      const terminating = api.store.get("", "pods", "shop", "web-b") as {
        metadata: { deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
      };
      expect(terminating.metadata.deletionGracePeriodSeconds).toBe(30);
      expect(Date.parse(terminating.metadata.deletionTimestamp ?? "")).toBeGreaterThan(Date.now() + 20_000);
      // A check that something does not happen (the pod going away unconfirmed): nothing to wait
      // on, so a short window in which a wrong immediate delete would show.
      await new Promise((r) => setTimeout(r, 300));
      expect(api.store.get("", "pods", "shop", "web-b")).toBeDefined(); // nobody confirmed yet
      expect(api.confirmPodDeletion("shop", "web-b")).toBe(true); // node-b's kubelet
      const d = await deleting;
      expect(d.stdout).toBe('pod "web-b" deleted\n');
      await expect.poll(() => !api.store.get("", "pods", "shop", "web-b")).toBe(true);
    } finally {
      w.stop();
    }
  });

  it("shows kube-apiserver's watch events for a graceful delete and a forced one (--output-watch-events)", async () => {
    for (const name of ["grace", "force"]) await kubectl(api, ["apply", "-f", "-"], pod(name, "node-a"));
    const watches = api.counters.get("watch", "pods");
    const w = kubectlStream(api, ["get", "pods", "-n", "shop", "--watch-only", "--output-watch-events"]);
    await expect.poll(() => api.counters.get("watch", "pods") > watches).toBe(true); // kubectl is watching
    const events = () => w.lines.slice(1).map((l) => l.trim().split(/\s+/).slice(0, 4).join(" "));
    try {
      // Graceful: MODIFIED (deletionTimestamp set, Terminating); the kubelet's delete with
      // gracePeriodSeconds=0: MODIFIED, then DELETED.
      const graceful = await kubectl(api, ["delete", "pod", "grace", "-n", "shop", "--wait=false"]);
      expect(graceful.stdout).toBe('pod "grace" deleted\n');
      await w.waitFor(2);
      expect(events()).toEqual(["MODIFIED grace 0/1 Terminating"]);
      expect(api.confirmPodDeletion("shop", "grace")).toBe(true);
      await w.waitFor(4);
      expect(events()).toEqual([
        "MODIFIED grace 0/1 Terminating",
        "MODIFIED grace 0/1 Terminating",
        "DELETED grace 0/1 Terminating",
      ]);
      // Forced (kubectl delete --force --grace-period=0): MODIFIED before DELETED, no kubelet needed.
      const forced = await kubectl(api, [
        "delete",
        "pod",
        "force",
        "-n",
        "shop",
        "--force",
        "--grace-period=0",
      ]);
      expect(forced.code).toBe(0);
      await w.waitFor(6);
      expect(events().slice(3)).toEqual(["MODIFIED force 0/1 Terminating", "DELETED force 0/1 Terminating"]);
      expect(api.store.get("", "pods", "shop", "force")).toBeUndefined();
      expect(api.confirmPodDeletion("shop", "force")).toBe(false);
    } finally {
      w.stop();
    }
  });
});
