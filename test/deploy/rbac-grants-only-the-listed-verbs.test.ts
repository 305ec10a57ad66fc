// Least privilege, checked on what `kubectl apply -k` would create: no wildcard anywhere,
// no verb beyond the list each role needs, and nothing on the list missing (a missing
// grant is a 403 at 3 a.m.).
import { describe, expect, it } from "vitest";
import { type KubeObject, kustomize } from "./manifests.ts";

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}

/** "group/resource" → verbs, per service account and scope. */
type Grants = Record<string, readonly string[]>;

const CR_VERBS = ["get", "list", "watch", "create", "patch", "update", "delete"];

const ALLOWED: Record<string, { cluster: Grants; namespaced: Grants }> = {
  "kernel-gossip-agent": {
    cluster: { "core/pods": ["get", "list", "watch"], "core/namespaces": ["list", "watch"] },
    namespaced: {},
  },
  "kernel-gossip-aggregator": {
    cluster: {
      "kernel.gossip.io/kernelwhispers": CR_VERBS,
      "kernel.gossip.io/kernelwhispers/status": CR_VERBS,
      "kernel.gossip.io/podbirthcertificates": CR_VERBS,
      "kernel.gossip.io/podbirthcertificates/status": CR_VERBS,
      "core/events": ["create", "patch"],
      "authentication.k8s.io/tokenreviews": ["create"],
      "core/namespaces": ["get"],
      "core/pods": ["get"],
      "apps/replicasets": ["get"],
      "apps/deployments": ["get"],
      "apps/statefulsets": ["get"],
      "apps/daemonsets": ["get"],
      "batch/jobs": ["get"],
      "batch/cronjobs": ["get"],
      "autoscaling/horizontalpodautoscalers": ["list"],
    },
    namespaced: {
      "coordination.k8s.io/leases": ["get", "list", "create", "update", "delete"],
      "core/configmaps": ["get", "list", "watch", "create", "update", "delete"],
    },
  },
};

/** What the rendered bindings grant each service account, by scope. */
function effectiveGrants(objects: readonly KubeObject[]) {
  const roles = new Map(
    objects
      .filter((o) => o.kind === "ClusterRole" || o.kind === "Role")
      .map((o) => [`${o.kind}/${o.metadata.name}`, (o.rules ?? []) as Rule[]]),
  );
  const out: Record<
    string,
    { cluster: Record<string, Set<string>>; namespaced: Record<string, Set<string>> }
  > = {};
  for (const binding of objects.filter((o) => o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding")) {
    const ref = binding.roleRef as { kind: string; name: string };
    const rules = roles.get(`${ref.kind}/${ref.name}`);
    if (!rules)
      throw new Error(`${binding.kind}/${binding.metadata.name} refers to missing ${ref.kind}/${ref.name}`);
    const scope = binding.kind === "ClusterRoleBinding" ? "cluster" : "namespaced";
    for (const subject of binding.subjects as { kind: string; name: string; namespace: string }[]) {
      expect(subject.kind).toBe("ServiceAccount");
      expect(subject.namespace).toBe("kernel-gossip");
      out[subject.name] ??= { cluster: {}, namespaced: {} };
      const grants = out[subject.name]?.[scope] ?? {};
      for (const rule of rules) {
        for (const group of rule.apiGroups ?? []) {
          for (const resource of rule.resources ?? []) {
            const key = `${group === "" ? "core" : group}/${resource}`;
            grants[key] ??= new Set();
            for (const verb of rule.verbs) grants[key].add(verb);
          }
        }
      }
    }
  }
  return out;
}

describe("RBAC", () => {
  const objects = kustomize("deploy/base");
  const rbac = objects.filter((o) => o.apiVersion.startsWith("rbac.authorization.k8s.io/"));

  it("has no wildcard and no non-resource URL in any rule", () => {
    const offending: string[] = [];
    for (const role of rbac.filter((o) => o.kind === "ClusterRole" || o.kind === "Role")) {
      for (const rule of (role.rules ?? []) as Rule[]) {
        const values = [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs];
        if (values.some((v) => v.includes("*")))
          offending.push(`${role.kind}/${role.metadata.name}: ${JSON.stringify(rule)}`);
        if (rule.nonResourceURLs) offending.push(`${role.kind}/${role.metadata.name}: nonResourceURLs`);
      }
    }
    expect(offending).toEqual([]);
    expect(rbac.filter((o) => o.kind === "ClusterRole").length).toBeGreaterThan(0);
  });

  it("grants each service account exactly the verbs on its list", () => {
    const grants = effectiveGrants(rbac);
    expect(Object.keys(grants).sort()).toEqual(Object.keys(ALLOWED).sort());
    for (const [account, allowed] of Object.entries(ALLOWED)) {
      for (const scope of ["cluster", "namespaced"] as const) {
        const have = Object.fromEntries(
          Object.entries(grants[account]?.[scope] ?? {}).map(([k, verbs]) => [k, [...verbs].sort()]),
        );
        const want = Object.fromEntries(
          Object.entries(allowed[scope]).map(([k, verbs]) => [k, [...verbs].sort()]),
        );
        expect(have, `${account} (${scope})`).toEqual(want);
      }
    }
  });

  it("binds nothing to a role it does not ship (no built-in roles such as cluster-admin or view)", () => {
    const shipped = new Set(
      rbac.filter((o) => o.kind.endsWith("Role")).map((o) => `${o.kind}/${o.metadata.name}`),
    );
    for (const binding of rbac.filter((o) => o.kind.endsWith("Binding"))) {
      const ref = binding.roleRef as { kind: string; name: string };
      expect(shipped.has(`${ref.kind}/${ref.name}`), `${binding.kind}/${binding.metadata.name}`).toBe(true);
    }
  });
});
