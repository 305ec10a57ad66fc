// The kernel's part in the demo: a cgroup directory per running container in the fixture
// tree (laid out like a kubelet with the systemd driver and containerd), CFS counters that
// advance for the throttled container, and, for the indexer, a working set near its limit
// (MemoryPressure) followed by one OOM kill of a child process.
import { CgroupFixture, type FixturePod, hexId } from "../agent/cgroup/testing/build.ts";
import { httpText, until } from "./wait.ts";
import type { DemoPod } from "./workloads.ts";

/** Each demo pod's fixture entry and its container's runtime id, by pod uid. */
export type PodCgroups = Map<string, { fixture: FixturePod; id: string }>;

const ROLES: Record<DemoPod["role"], string> = {
  healthy: "starts and becomes Ready",
  "crash-loop": "exits with code 1 and goes into CrashLoopBackOff",
  "oom-killed": "is OOM-killed (exit 137) and restarted by the kubelet",
  throttled: "runs into its 0.5-core CFS quota: ~90 % of periods throttled",
  "kernel-oom":
    "nears its memory limit (MemoryPressure), then keeps running while the kernel OOM-kills one of its child processes",
};

/** node demo-node's /sys/fs/cgroup under `root` (cgroup v2, systemd driver). */
export function createNodeCgroups(root: string): Promise<CgroupFixture> {
  return CgroupFixture.create(root, { version: 2, driver: "systemd" });
}

/** A cgroup per pod, saying what each pod is going to do. */
export async function addPodCgroups(
  fixture: CgroupFixture,
  pods: readonly DemoPod[],
  say: (text: string) => void,
): Promise<PodCgroups> {
  const cg: PodCgroups = new Map();
  for (const p of pods) {
    const id = hexId();
    const fp: FixturePod = {
      uid: p.uid,
      namespace: p.namespace,
      name: p.name,
      qos: p.qos,
      sandboxId: hexId(),
      containers: [{ name: p.container, id, runtime: "containerd" }],
    };
    await fixture.addPod(fp);
    cg.set(p.uid, { fixture: fp, id });
    say(`- ${p.namespace}/${p.name} (${p.workload}): ${p.container} ${ROLES[p.role]}\n`);
  }
  return cg;
}

/** CFS counters of the throttled container, every second: 9 of 10 periods throttled. */
export function startCfsTicker(fixture: CgroupFixture, pods: readonly DemoPod[], cg: PodCgroups): () => void {
  const throttled = pods.find((p) => p.role === "throttled");
  const cpu = { periods: 0, throttled: 0, throttledSeconds: 0, usageSeconds: 0 };
  const ticker = setInterval(() => {
    Object.assign(cpu, {
      periods: cpu.periods + 10,
      throttled: cpu.throttled + 9,
      throttledSeconds: cpu.throttledSeconds + 0.41,
      usageSeconds: cpu.usageSeconds + 0.5,
    });
    const t = throttled && cg.get(throttled.uid);
    if (t) void fixture.writeCpu(t.fixture, t.fixture.containers[0], cpu).catch(() => {});
  }, 1_000);
  return () => clearInterval(ticker);
}

/** Until the agent's /metrics says it has scanned every running container's cgroup. */
export async function firstScan(agentMetricsPort: number, pods: readonly DemoPod[], timeoutMs: number) {
  // Every running container (the crash-looping one is waiting, so it has no live cgroup).
  const running = pods.filter((p) => p.role !== "crash-loop").length;
  await until("the agent's first scan of every running container's cgroup", timeoutMs, async () => {
    const { body } = await httpText(`http://127.0.0.1:${agentMetricsPort}/metrics`);
    const scanned = Number(/^kernel_gossip_agent_cgroup_containers (\S+)$/m.exec(body)?.[1] ?? 0);
    return scanned >= running ? true : undefined;
  });
}

/**
 * The indexer: first the warning — its working set climbs to 495 of its 512 MiB and stays
 * there, so the agent opens a MemoryPressure episode; the kill comes only once that whisper
 * exists (read with `kubectl get kw`).
 */
export async function memoryPressureThenOomKill(options: {
  fixture: CgroupFixture;
  pods: readonly DemoPod[];
  cg: PodCgroups;
  kubectl: (args: string[], show?: boolean) => Promise<string>;
  say: (text: string) => void;
  timeoutMs: number;
}): Promise<void> {
  const { fixture, pods, cg, kubectl, say, timeoutMs } = options;
  const indexer = pods.find((p) => p.role === "kernel-oom");
  const i = indexer && cg.get(indexer.uid);
  if (!indexer || !i) return;
  await fixture.writeMemoryUsage(i.fixture, i.fixture.containers[0], {
    usage: 500 * 2 ** 20,
    inactiveFile: 5 * 2 ** 20,
    limit: 512 * 2 ** 20,
  });
  say(
    `- the working set of ${indexer.namespace}/${indexer.name} climbs to 495Mi of its 512Mi memory limit and stays there\n`,
  );
  await until("the MemoryPressure whisper for the indexer", timeoutMs, async () => {
    const items = JSON.parse(
      await kubectl(["get", "kw", "-n", indexer.namespace, "-o", "json"], false),
    ).items;
    return items.some((w: { spec: { signal: string } }) => w.spec.signal === "MemoryPressure")
      ? true
      : undefined;
  });
  await fixture.writeMemory(i.fixture, i.fixture.containers[0], {
    limit: 512 * 2 ** 20,
    peak: 511 * 2 ** 20,
  });
  await fixture.writeOomKills(i.fixture, i.fixture.containers[0], 1);
  say(`- the kernel OOM-kills a child process in ${indexer.namespace}/${indexer.name} (oom_kill 0 → 1)\n`);
}
