/**
 * kubectl drives CRDs against the local server as against kube-apiserver 1.32:
 * apply the CRD, see it Established, get CRs with their printer columns
 * (priority > 0 only with -o wide), by short name and by category, explain
 * with the schema's descriptions, describe, and delete the CRD.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "./index.ts";
import { kubectl, kubectlStream } from "./testing.ts";

const FIXTURES = join(import.meta.dirname, "fixtures");
const headers = (out: string) => (out.split("\n")[0] ?? "").trim().split(/\s{2,}/);

describe("kubectl get for a CRD with printer columns", () => {
  let api: KubeApi;
  beforeAll(async () => {
    api = await startKubeApi();
    const crd = await kubectl(api, ["apply", "-f", join(FIXTURES, "kernelwhisper-crd.yaml")]);
    expect(crd.stderr).toBe("");
    expect(crd.stdout).toBe(
      "customresourcedefinition.apiextensions.k8s.io/kernelwhispers.kernel.gossip.io created\n",
    );
    expect((await kubectl(api, ["create", "ns", "team-a"])).stdout).toBe("namespace/team-a created\n");
    const cr = await kubectl(api, ["apply", "-f", join(FIXTURES, "kernelwhisper.yaml")]);
    expect(cr.stdout).toBe("kernelwhisper.kernel.gossip.io/web-app-cputhrottling created\n");
  });
  afterAll(() => api.close());

  it("lists the CRD with NAME and CREATED AT, and marks it Established", async () => {
    const r = await kubectl(api, ["get", "crd"]);
    // kube-apiserver: NAME   CREATED AT / kernelwhispers.kernel.gossip.io   2024-05-01T10:00:00Z
    expect(headers(r.stdout)).toEqual(["NAME", "CREATED AT"]);
    expect(r.stdout).toMatch(/kernelwhispers\.kernel\.gossip\.io\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
    const w = await kubectl(api, [
      "wait",
      "--for=condition=Established",
      "crd/kernelwhispers.kernel.gossip.io",
      "--timeout=5s",
    ]);
    expect(w.stdout).toContain("condition met");
  });

  it("shows printer columns, hiding priority > 0 unless -o wide", async () => {
    await kubectl(api, [
      "patch",
      "kw",
      "web-app-cputhrottling",
      "-n",
      "team-a",
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"severity":"critical","count":3,"throttledPercent":"87%","conditions":[{"type":"Ready","status":"True"}]}}',
    ]);
    const narrow = await kubectl(api, ["get", "kernelwhispers", "-n", "team-a"]);
    expect(headers(narrow.stdout)).toEqual([
      "NAME",
      "WORKLOAD",
      "CONTAINER",
      "SIGNAL",
      "SEVERITY",
      "COUNT",
      "LAST SEEN",
      "AGE",
    ]);
    expect(narrow.stdout).toMatch(
      /web-app-cputhrottling\s+Deployment\/web\s+app\s+CPUThrottling\s+critical\s+3\s+\d+s/,
    );
    const wide = await kubectl(api, ["get", "kw", "-n", "team-a", "-o", "wide"]);
    expect(headers(wide.stdout)).toEqual([
      "NAME",
      "WORKLOAD",
      "CONTAINER",
      "SIGNAL",
      "SEVERITY",
      "THROTTLED",
      "COUNT",
      "READY",
      "LAST SEEN",
      "AGE",
    ]);
    expect(wide.stdout).toMatch(/critical\s+87%\s+3\s+True/);
  });

  it("finds CRs by short name and by category, across namespaces", async () => {
    const byCategory = await kubectl(api, ["get", "kernel-gossip", "-A"]);
    expect(headers(byCategory.stdout)[0]).toBe("NAMESPACE");
    // one resource type in the category: kubectl prints rows without the kind prefix
    expect(byCategory.stdout).toMatch(/^team-a\s+web-app-cputhrottling\s+Deployment\/web/m);
    const byShort = await kubectl(api, ["get", "kw", "-n", "team-a", "-o", "name"]);
    expect(byShort.stdout).toBe("kernelwhisper.kernel.gossip.io/web-app-cputhrottling\n");
  });

  it("explains fields with the CRD schema's descriptions and enums", async () => {
    const r = await kubectl(api, ["explain", "kw.spec.signal"]);
    expect(r.stdout).toContain("KIND:       KernelWhisper");
    expect(r.stdout).toContain("What the kernel reported.");
    expect(r.stdout).toMatch(/ENUM:\s+CPUThrottling\s+OOMKilled\s+CrashLoopBackOff/);
    const top = await kubectl(api, ["explain", "kernelwhispers"]);
    expect(top.stdout.replace(/\s+/g, " ")).toContain(
      "DESCRIPTION: KernelWhisper is what the kernel told us about one container of one workload.",
    );
  });

  it("streams CR changes to kubectl get -w with the printer columns", async () => {
    const w = kubectlStream(api, ["get", "kw", "-n", "team-a", "-w"]);
    try {
      await w.waitFor(2);
      await kubectl(api, [
        "patch",
        "kw",
        "web-app-cputhrottling",
        "-n",
        "team-a",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"severity":"warning"}}',
      ]);
      await w.waitFor(3);
      expect(headers(w.lines[0] ?? "")[0]).toBe("NAME");
      expect(w.lines[2]).toMatch(
        /^web-app-cputhrottling\s+Deployment\/web\s+app\s+CPUThrottling\s+warning\s+3\s/,
      );
    } finally {
      w.stop();
    }
  });

  it("describes a CR", async () => {
    const r = await kubectl(api, ["describe", "kw", "web-app-cputhrottling", "-n", "team-a"]);
    expect(r.stdout).toMatch(/^Name:\s+web-app-cputhrottling$/m);
    expect(r.stdout).toMatch(/^API Version:\s+kernel.gossip.io\/v1alpha1$/m);
    expect(r.stdout).toMatch(/^\s+Signal:\s+CPUThrottling$/m);
    expect(r.stdout).toMatch(/^Events:\s+<none>$/m);
  });

  it("rejects an invalid CR with the real server's causes", async () => {
    const bad = [
      "apiVersion: kernel.gossip.io/v1alpha1",
      "kind: KernelWhisper",
      "metadata: {name: bad, namespace: team-a}",
      "spec: {workload: w, container: app, signal: Nope}",
    ].join("\n");
    const r = await kubectl(api, ["apply", "-f", "-"], bad);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('The KernelWhisper "bad" is invalid');
    expect(r.stderr).toContain(
      'spec.signal: Unsupported value: "Nope": supported values: "CPUThrottling", "OOMKilled", "CrashLoopBackOff"',
    );
    const unknown = bad.replace("signal: Nope", "signal: OOMKilled, colour: red");
    const u = await kubectl(api, ["apply", "-f", "-"], unknown);
    expect(u.stderr).toContain('strict decoding error: unknown field "spec.colour"');
  });

  it("deleting the CRD removes its resource and objects", async () => {
    const r = await kubectl(api, ["delete", "crd", "kernelwhispers.kernel.gossip.io"]);
    expect(r.stdout).toBe(
      'customresourcedefinition.apiextensions.k8s.io "kernelwhispers.kernel.gossip.io" deleted\n',
    );
    expect(api.store.list("kernel.gossip.io", "kernelwhispers")).toEqual([]);
    // kubectl's discovery cache still maps kw, so the list itself is answered 404, as by kube-apiserver
    const after = await kubectl(api, ["get", "kw", "-A"]);
    expect(after.stderr).toContain("the server could not find the requested resource");
    const fresh = await kubectl(api, ["api-resources", "--api-group=kernel.gossip.io"]);
    expect(fresh.stdout).not.toContain("kernelwhispers");
  });
});
