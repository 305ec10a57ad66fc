// What an operator relies on in the rendered workloads: each pod is locked down, every
// environment variable is an option the process really has (with a value its own parser
// accepts), and the pieces point at each other — Service, NetworkPolicy, probes,
// PodMonitor and ServiceMonitor select the right pods and ports.
import { describe, expect, it } from "vitest";
import { AGENT_OPTIONS } from "../../agent/options.ts";
import { AGGREGATOR_OPTIONS } from "../../aggregator/options/index.ts";
import { type OptionSpecs, type Options, parseOptions } from "../../shared/options.ts";
import { find, type KubeObject, kustomize } from "./manifests.ts";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  containers: Container[];
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  tolerations?: { operator?: string; key?: string }[];
  securityContext?: Record<string, unknown>;
  hostNetwork?: boolean;
  hostPID?: boolean;
  affinity?: unknown;
  volumes?: { name: string; hostPath?: { path: string }; projected?: { sources: unknown[] } }[];
}
interface Workload extends KubeObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

const objects = kustomize("deploy/base");
const monitoring = kustomize("deploy/monitoring");
const agent = find(objects, "DaemonSet", "kernel-gossip-agent") as Workload;
const aggregator = find(objects, "Deployment", "kernel-gossip-aggregator") as Workload;
const podOf = (w: Workload) => w.spec.template.spec;
const containerOf = (w: Workload) => podOf(w).containers[0] as Container;

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/**
 * The environment the kubelet would give the container: downward-API values filled in,
 * ConfigMap references resolved from the rendered ConfigMaps, $(VAR) expanded.
 */
function resolvedEnv(w: Workload): Record<string, string> {
  const downward: Record<string, string> = {
    "spec.nodeName": "node-a",
    "metadata.namespace": "kernel-gossip",
    "metadata.name": `${w.metadata.name}-x1`,
  };
  const env: Record<string, string> = {};
  for (const v of containerOf(w).env ?? []) {
    if (v.value !== undefined)
      env[v.name] = v.value.replace(/\$\((\w+)\)/g, (_, name: string) => env[name] ?? "");
    else if (v.valueFrom?.fieldRef) env[v.name] = downward[v.valueFrom.fieldRef.fieldPath] ?? "";
    else if (v.valueFrom?.configMapKeyRef) {
      const ref = v.valueFrom.configMapKeyRef;
      const cm = find(objects, "ConfigMap", ref.name).data as Record<string, string>;
      expect(cm[ref.key], `${v.name} → ConfigMap ${ref.name} key ${ref.key}`).toBeDefined();
      env[v.name] = cm[ref.key] ?? "";
    }
  }
  return env;
}

function expectLockedDown(w: Workload) {
  const pod = podOf(w);
  const c = containerOf(w);
  expect(pod.hostNetwork ?? false).toBe(false);
  expect(pod.hostPID ?? false).toBe(false);
  expect(pod.securityContext).toMatchObject({
    runAsNonRoot: true,
    seccompProfile: { type: "RuntimeDefault" },
  });
  expect(pod.securityContext?.runAsUser).not.toBe(0);
  expect(c.securityContext).toMatchObject({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
  });
  expect(c.securityContext?.privileged ?? false).toBe(false);
  expect((c.securityContext?.capabilities as { add?: string[] } | undefined)?.add).toBeUndefined();
  expect(c.image).toBe("ghcr.io/kernel-gossip/kernel-gossip:0.1.0");
  expect(c.resources?.requests?.cpu).toBeDefined();
  expect(c.resources?.requests?.memory).toBeDefined();
  expect(c.resources?.limits?.memory).toBeDefined();
}

function expectEnvParses<T extends OptionSpecs>(w: Workload, specs: T): Options<T> {
  const known = new Set([...Object.values(specs).map((s) => s.env), "NODE_OPTIONS"]);
  const env = resolvedEnv(w);
  expect(
    Object.keys(env).filter((name) => !known.has(name)),
    "variables no option reads",
  ).toEqual([]);
  return parseOptions(specs, [], env);
}

function expectProbes(w: Workload, port: number) {
  const c = containerOf(w);
  const metrics = c.ports?.find((p) => p.name === "metrics");
  expect(metrics?.containerPort).toBe(port);
  expect(c.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "metrics" });
  expect(c.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
}

describe("agent DaemonSet", () => {
  const pod = podOf(agent);
  const c = containerOf(agent);

  it("runs as a locked-down non-root pod on every node", () => {
    expectLockedDown(agent);
    expect(c.args).toEqual(["agent"]);
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    expect(pod.serviceAccountName).toBe("kernel-gossip-agent");
    expect(pod.automountServiceAccountToken).toBe(true);
    find(objects, "PriorityClass", pod.priorityClassName ?? "(none)");
    expect(c.resources).toEqual({ requests: { cpu: "10m", memory: "128Mi" }, limits: { memory: "256Mi" } });
  });

  it("gets its node and namespace from the downward API and options its parser accepts", () => {
    const env = c.env ?? [];
    expect(env.find((v) => v.name === "NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName");
    expect(env.find((v) => v.name === "POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath).toBe(
      "metadata.namespace",
    );
    const options = expectEnvParses(agent, AGENT_OPTIONS);
    expect(options.nodeName).toBe("node-a");
    expect(options.cgroupRoot).toBe("/host/sys/fs/cgroup");
    expect(options.aggregatorUrl).toBe("ws://kernel-gossip-aggregator.kernel-gossip.svc:9400/stream");
  });

  it("reads the host's cgroupfs read-only where CGROUP_ROOT points", () => {
    const options = expectEnvParses(agent, AGENT_OPTIONS);
    const mount = c.volumeMounts?.find((m) => m.mountPath === options.cgroupRoot);
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    expect(volume?.hostPath?.path).toBe("/sys/fs/cgroup");
    // Two hostPaths: this one, read-only, and the spool (below).
    expect(pod.volumes?.filter((v) => v.hostPath).map((v) => v.hostPath?.path)).toEqual([
      "/sys/fs/cgroup",
      "/var/lib/kernel-gossip",
    ]);
  });

  it("keeps its spool on a hostPath where SPOOL_DIR points, handed to its user by a CAP_CHOWN-only init container", () => {
    const options = expectEnvParses(agent, AGENT_OPTIONS);
    expect(options.spoolDir).toBe("/var/lib/kernel-gossip");
    const mount = c.volumeMounts?.find((m) => m.mountPath === options.spoolDir);
    expect(mount?.readOnly ?? false).toBe(false);
    const volume = pod.volumes?.find((v) => v.name === mount?.name) as
      | { hostPath?: { path: string; type?: string } }
      | undefined;
    expect(volume?.hostPath).toEqual({ path: "/var/lib/kernel-gossip", type: "DirectoryOrCreate" });
    const init = (pod as { initContainers?: Container[] }).initContainers ?? [];
    expect(init.map((i) => i.name)).toEqual(["spool-owner"]);
    const owner = init[0] as Container & { command?: string[] };
    expect(owner.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["CHOWN"] },
    });
    const uid = (pod.securityContext as { runAsUser?: number }).runAsUser;
    expect(owner.command?.join(" ")).toContain(`chown ${uid}:`);
    expect(owner.volumeMounts?.map((m) => m.mountPath)).toEqual([options.spoolDir]);
    // The agent's own container stays non-root with a read-only root filesystem.
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
  });

  it("mounts a projected token for audience kernel-gossip where TOKEN_FILE points", () => {
    const options = expectEnvParses(agent, AGENT_OPTIONS);
    const dir = options.tokenFile.slice(0, options.tokenFile.lastIndexOf("/"));
    const file = options.tokenFile.slice(dir.length + 1);
    const mount = c.volumeMounts?.find((m) => m.mountPath === dir);
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    expect(volume?.projected?.sources).toEqual([
      { serviceAccountToken: { audience: "kernel-gossip", expirationSeconds: 3600, path: file } },
    ]);
    const aggregatorOptions = expectEnvParses(aggregator, AGGREGATOR_OPTIONS);
    expect(aggregatorOptions.tokenAudience).toBe("kernel-gossip");
  });

  it("serves probes and metrics on the port its METRICS_PORT says", () => {
    expectProbes(agent, expectEnvParses(agent, AGENT_OPTIONS).metricsPort);
  });
});

describe("aggregator Deployment", () => {
  const pod = podOf(aggregator);

  it("runs two locked-down replicas spread over nodes, kept available by a PDB", () => {
    expectLockedDown(aggregator);
    expect(containerOf(aggregator).args).toEqual(["aggregator"]);
    expect(aggregator.spec.replicas).toBe(2);
    expect(JSON.stringify(pod.affinity)).toContain('"topologyKey":"kubernetes.io/hostname"');
    const pdb = find(objects, "PodDisruptionBudget", "kernel-gossip-aggregator") as unknown as {
      spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    };
    expect(pdb.spec.minAvailable).toBe(1);
    expect(matches(pdb.spec.selector.matchLabels, aggregator.spec.template.metadata.labels)).toBe(true);
  });

  it("knows its pod name and namespace and accepts only the agent's service account", () => {
    const options = expectEnvParses(aggregator, AGGREGATOR_OPTIONS);
    expect(options.podName).toBe("kernel-gossip-aggregator-x1");
    expect(options.podNamespace).toBe("kernel-gossip");
    expect(options.agentServiceAccount).toBe(
      `system:serviceaccount:kernel-gossip:${podOf(agent).serviceAccountName}`,
    );
    expect(options.agentConfigmap).toBe(
      find(objects, "ConfigMap", "kernel-gossip-agent-config").metadata.name,
    );
    expectProbes(aggregator, options.metricsPort);
  });

  it("is reached by agents through the Service on the stream port, and only by agents", () => {
    const options = expectEnvParses(aggregator, AGGREGATOR_OPTIONS);
    const service = find(objects, "Service", "kernel-gossip-aggregator") as KubeObject & {
      spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] };
    };
    expect(matches(service.spec.selector, aggregator.spec.template.metadata.labels)).toBe(true);
    const stream = service.spec.ports.find((p) => p.name === "stream");
    expect(stream?.port).toBe(options.streamPort);
    expect(containerOf(aggregator).ports?.find((p) => p.name === stream?.targetPort)?.containerPort).toBe(
      options.streamPort,
    );
    const agentUrl = new URL(expectEnvParses(agent, AGENT_OPTIONS).aggregatorUrl);
    expect(agentUrl.hostname.split(".")[0]).toBe(service.metadata.name);
    expect(Number(agentUrl.port)).toBe(stream?.port);

    const policy = find(objects, "NetworkPolicy", "kernel-gossip-aggregator") as unknown as {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        ingress: {
          from: { podSelector?: { matchLabels: Record<string, string> } }[];
          ports: { port: number }[];
        }[];
      };
    };
    expect(matches(policy.spec.podSelector.matchLabels, aggregator.spec.template.metadata.labels)).toBe(true);
    const streamRule = policy.spec.ingress.find((r) => r.ports.some((p) => p.port === options.streamPort));
    expect(streamRule?.from).toHaveLength(1);
    const from = streamRule?.from[0]?.podSelector?.matchLabels ?? {};
    expect(matches(from, agent.spec.template.metadata.labels)).toBe(true);
    expect(matches(from, aggregator.spec.template.metadata.labels)).toBe(false);
  });
});

describe("monitoring", () => {
  it("the PodMonitor scrapes the agents' metrics port and the ServiceMonitor the aggregator's", () => {
    const podMonitor = find(monitoring, "PodMonitor", "kernel-gossip-agent") as unknown as {
      spec: {
        selector: { matchLabels: Record<string, string> };
        podMetricsEndpoints: { port: string; honorLabels?: boolean }[];
      };
    };
    expect(matches(podMonitor.spec.selector.matchLabels, agent.spec.template.metadata.labels)).toBe(true);
    expect(containerOf(agent).ports?.map((p) => p.name)).toContain(
      podMonitor.spec.podMetricsEndpoints[0]?.port,
    );
    expect(podMonitor.spec.podMetricsEndpoints[0]?.honorLabels).toBe(true);

    const serviceMonitor = find(monitoring, "ServiceMonitor", "kernel-gossip-aggregator") as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    const service = find(objects, "Service", "kernel-gossip-aggregator") as KubeObject & {
      spec: { ports: { name: string }[] };
    };
    expect(matches(serviceMonitor.spec.selector.matchLabels, service.metadata.labels ?? {})).toBe(true);
    expect(service.spec.ports.map((p) => p.name)).toContain(serviceMonitor.spec.endpoints[0]?.port);
  });
});
