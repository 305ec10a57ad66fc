// The CRDs in crds/ are accepted by an API server (the project's local one, judged by the
// real kubectl): the resources appear with their short names and category, and
// applying them again changes nothing — what `kubectl apply -k deploy/` does first.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KubeApi, startKubeApi } from "../kube-api/index.ts";
import { crdFiles, ROOT } from "./manifests.ts";

const run = promisify(execFile);
let api: KubeApi;
// kubectl runs as a child process while the API server answers in this one: never block
// the event loop with a synchronous exec here.
const kubectl = async (...args: string[]) =>
  (await run("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], { cwd: ROOT })).stdout;

beforeAll(async () => {
  api = await startKubeApi();
});
afterAll(async () => {
  await api?.close();
});

describe("crds/", () => {
  it("holds the two CRDs", () => {
    expect(crdFiles().length).toBeGreaterThanOrEqual(2);
  });

  it("applies with kubectl and serves kernelwhispers (kw) and podbirthcertificates (pbc)", async () => {
    const applied = await kubectl("apply", "-f", "crds/");
    expect(applied).toContain(
      "customresourcedefinition.apiextensions.k8s.io/kernelwhispers.kernel.gossip.io created",
    );
    expect(applied).toContain(
      "customresourcedefinition.apiextensions.k8s.io/podbirthcertificates.kernel.gossip.io created",
    );
    const resources = await kubectl("api-resources", "--api-group=kernel.gossip.io", "-o", "wide");
    expect(resources).toMatch(/kernelwhispers\s+kw\s+kernel\.gossip\.io\/v1alpha1\s+true\s+KernelWhisper/);
    expect(resources).toMatch(
      /podbirthcertificates\s+pbc\s+kernel\.gossip\.io\/v1alpha1\s+true\s+PodBirthCertificate/,
    );
    expect(resources).toContain("kernel-gossip");
    const { stderr } = await run("kubectl", ["--kubeconfig", api.kubeconfigPath, "get", "kw,pbc", "-A"]);
    expect(stderr).toContain("No resources found");
  });

  it("applies again without changes", async () => {
    const again = await kubectl("apply", "-f", "crds/");
    expect(again).toContain("kernelwhispers.kernel.gossip.io unchanged");
    expect(again).toContain("podbirthcertificates.kernel.gossip.io unchanged");
  });
});
