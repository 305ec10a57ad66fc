/**
 * Legacy (unaggregated) discovery documents. kubectl 1.32 asks for aggregated
 * discovery (apidiscovery.k8s.io/v2) first; a plain `application/json` answer
 * makes it fall back to these documents, exactly as against a server without
 * the aggregated endpoint.
 */
import type { Registry, ResourceType } from "./registry.ts";
import type { KObj } from "./types.ts";

export const SERVER_VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2024-12-11T00:00:00Z",
  goVersion: "go1.23.3",
  compiler: "gc",
  platform: "linux/amd64",
};

export function apiVersions(hostPort: string): KObj {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: hostPort }],
  };
}

function groupDoc(group: string, versions: string[]): KObj {
  const vs = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(reg: Registry): KObj {
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: reg
      .groupVersions()
      .filter((g) => g.group !== "")
      .map((g) => groupDoc(g.group, g.versions)),
  };
}

export function apiGroup(reg: Registry, group: string): KObj | undefined {
  const g = reg.groupVersions().find((x) => x.group === group);
  if (!g || group === "") return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...groupDoc(group, g.versions) };
}

function resourceEntry(t: ResourceType): KObj {
  const e: KObj = {
    name: t.plural,
    singularName: t.singular,
    namespaced: t.namespaced,
    kind: t.kind,
    verbs: t.verbs,
  };
  if (t.shortNames.length) e.shortNames = t.shortNames;
  if (t.categories.length) e.categories = t.categories;
  return e;
}

export function apiResourceList(reg: Registry, group: string, version: string): KObj | undefined {
  const types = reg.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const resources: KObj[] = [];
  for (const t of types) {
    resources.push(resourceEntry(t));
    if (t.statusSubresource) {
      resources.push({
        name: `${t.plural}/status`,
        singularName: "",
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["get", "patch", "update"],
      });
    }
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}
