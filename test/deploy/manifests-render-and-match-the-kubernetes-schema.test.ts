// `kubectl kustomize` renders every kustomization we ship, and every object it renders is
// valid against the Kubernetes OpenAPI schema (kubernetes-models' per-kind validators)
// or, for the Prometheus Operator objects, against the operator's CRD schemas.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { find, type KubeObject, kustomize, ROOT, schemaErrors } from "./manifests.ts";

const tmp = mkdtempSync(join(tmpdir(), "kg-overlay-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function expectSchemaValid(objects: KubeObject[]): void {
  expect(objects.length).toBeGreaterThan(0);
  expect(objects.flatMap(schemaErrors)).toEqual([]);
}

describe("kustomize renders schema-valid objects", () => {
  it("deploy/base renders every object the two roles need", () => {
    const objects = kustomize("deploy/base");
    expectSchemaValid(objects);
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        "Namespace/kernel-gossip",
        "PriorityClass/kernel-gossip-node-critical",
        "ServiceAccount/kernel-gossip-agent",
        "ServiceAccount/kernel-gossip-aggregator",
        "ClusterRole/kernel-gossip-agent",
        "ClusterRole/kernel-gossip-aggregator",
        "Role/kernel-gossip-aggregator",
        "ConfigMap/kernel-gossip-agent-config",
        "DaemonSet/kernel-gossip-agent",
        "Deployment/kernel-gossip-aggregator",
        "Service/kernel-gossip-aggregator",
        "PodDisruptionBudget/kernel-gossip-aggregator",
        "NetworkPolicy/kernel-gossip-agent",
        "NetworkPolicy/kernel-gossip-aggregator",
        "FlowSchema/kernel-gossip-aggregator",
        "PriorityLevelConfiguration/kernel-gossip-aggregator",
      ]),
    );
    // Every namespaced object lands in kernel-gossip.
    const cluster = new Set([
      "Namespace",
      "PriorityClass",
      "ClusterRole",
      "ClusterRoleBinding",
      "FlowSchema",
      "PriorityLevelConfiguration",
    ]);
    for (const o of objects.filter((o) => !cluster.has(o.kind))) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("kernel-gossip");
    }
  });

  it("deploy/monitoring renders the Prometheus Operator objects and the dashboard", () => {
    const objects = kustomize("deploy/monitoring");
    expectSchemaValid(objects);
    find(objects, "PodMonitor", "kernel-gossip-agent");
    find(objects, "ServiceMonitor", "kernel-gossip-aggregator");
    find(objects, "PrometheusRule", "kernel-gossip");
    const dashboard = find(objects, "ConfigMap", "kernel-gossip-dashboard");
    expect(dashboard.metadata.labels?.grafana_dashboard).toBe("1");
    const json = (dashboard.data as Record<string, string>)["kernel-gossip.json"] ?? "";
    expect(JSON.parse(json).uid).toBe("kernel-gossip");
  });

  it("deploy/ (the one-command install) renders the CRDs and the base", () => {
    const objects = kustomize("deploy");
    expectSchemaValid(objects);
    const crds = objects.filter((o) => o.kind === "CustomResourceDefinition").map((o) => o.metadata.name);
    expect(crds.sort()).toEqual(["kernelwhispers.kernel.gossip.io", "podbirthcertificates.kernel.gossip.io"]);
    find(objects, "DaemonSet", "kernel-gossip-agent");
  });

  it("the precise-cpu-demand overlay puts only the agent in the host PID namespace, nothing else changes", () => {
    const base = kustomize("deploy");
    const objects = kustomize("deploy/overlays/precise-cpu-demand");
    expectSchemaValid(objects);
    const agent = find(objects, "DaemonSet", "kernel-gossip-agent") as unknown as {
      spec: { template: { spec: Record<string, unknown> } };
    };
    expect(agent.spec.template.spec.hostPID).toBe(true);
    const { hostPID: _, ...rest } = agent.spec.template.spec;
    const baseAgent = find(base, "DaemonSet", "kernel-gossip-agent") as unknown as typeof agent;
    expect(rest).toEqual(baseAgent.spec.template.spec);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      base.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    );
  });

  it("the example overlay renders with its cluster name, image, replicas and monitoring namespace", () => {
    const objects = kustomize("deploy/overlays/example");
    expectSchemaValid(objects);
    const cluster = objects.find(
      (o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("kernel-gossip-cluster-"),
    );
    expect((cluster?.data as Record<string, string> | undefined)?.CLUSTER_NAME).toBe("prod-eu-1");
    const agent = find(objects, "DaemonSet", "kernel-gossip-agent") as unknown as PodOwner;
    expect(agent.spec.template.spec.containers[0]?.image).toBe(
      "registry.example.com/mirror/kernel-gossip:0.1.0",
    );
    const aggregator = find(objects, "Deployment", "kernel-gossip-aggregator") as unknown as {
      spec: { replicas: number };
    };
    expect(aggregator.spec.replicas).toBe(3);
    const config = find(objects, "ConfigMap", "kernel-gossip-agent-config").data as Record<string, string>;
    expect(config.namespaceLabelSelector).toBe("kernel-gossip.io/enabled=true");
    expect(config.dedupCooldown).toBe("3m"); // untouched keys survive the patch
    for (const name of ["kernel-gossip-agent", "kernel-gossip-aggregator"]) {
      const policy = JSON.stringify(find(objects, "NetworkPolicy", name));
      expect(policy).toContain('"kubernetes.io/metadata.name":"observability"');
      expect(policy).not.toContain('"kubernetes.io/metadata.name":"monitoring"');
    }
    for (const kind of ["PodMonitor", "ServiceMonitor", "PrometheusRule"]) {
      const o = objects.find((o) => o.kind === kind);
      expect(o?.metadata.labels?.release, kind).toBe("kube-prometheus-stack");
    }
  });

  it("moves to another namespace with the NamespaceTransformer documented in docs/install.md", () => {
    writeFileSync(
      join(tmp, "kustomization.yaml"),
      [
        "namespace: observability",
        "resources:",
        `  - ${relative(tmp, join(ROOT, "deploy/base"))}`,
        "transformers:",
        "  - |-",
        "    apiVersion: builtin",
        "    kind: NamespaceTransformer",
        "    metadata:",
        "      name: namespace",
        "      namespace: observability",
        "    setRoleBindingSubjects: allServiceAccounts",
        "    unsetOnly: false",
        "patches:",
        "  - target: { kind: FlowSchema, name: kernel-gossip-aggregator }",
        "    patch: |-",
        "      - op: replace",
        "        path: /spec/rules/0/subjects/0/serviceAccount/namespace",
        "        value: observability",
        "",
      ].join("\n"),
    );
    const objects = kustomize(tmp);
    expectSchemaValid(objects);
    expect(JSON.stringify(objects)).not.toMatch(/"namespace":"kernel-gossip"/);
    find(objects, "Namespace", "observability");
    for (const binding of objects.filter((o) => o.kind.endsWith("Binding"))) {
      for (const subject of binding.subjects as { namespace: string }[])
        expect(subject.namespace).toBe("observability");
    }
  });

  it("a broken object is reported with its kind, name and the offending path", () => {
    const broken = {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "broken" },
      spec: { selector: {}, template: { spec: { containers: [{ name: "x", image: 3 }] } } },
    };
    expect(schemaErrors(broken)).toEqual([
      "DaemonSet/broken: /spec/template/spec/containers/0/image must be string",
    ]);
    const typo = {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "typo" },
      spec: {
        selector: {},
        template: {
          spec: { containers: [{ name: "x", securityContext: { readOnlyRootFileSystem: true } }] },
        },
      },
    };
    expect(schemaErrors(typo)).toEqual([
      "DaemonSet/typo: /spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem is not a field of V1SecurityContext",
    ]);
    expect(schemaErrors({ apiVersion: "example.com/v1", kind: "Thing", metadata: { name: "t" } })).toEqual([
      "Thing/t: no schema known for example.com/v1 Thing",
    ]);
  });
});

interface PodOwner {
  spec: { template: { spec: { containers: { image: string }[] } } };
}
