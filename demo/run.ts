// `make demo`: the whole flow on one machine, with the real kubectl. A local Kubernetes API
// server stands in for the cluster, a cgroup tree in a temp dir for node demo-node's
// /sys/fs/cgroup (there is no kubelet or container here, so the demo plays the kubelet's
// and the kernel's parts), and the aggregator and the agent run as real processes.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { CgroupFixture, type FixturePod, hexId } from "../agent/cgroup/fixtures/build.ts";
import { startKubeApi } from "../test/kube-api/index.ts";
import { freePort } from "../test/ports.ts";
import { runningStatus, scheduledStatus } from "./kubelet.ts";
import { createWorkloads, type DemoPod } from "./workloads.ts";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("..", import.meta.url));
const bin = join(repo, "bin", "kernel-gossip");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface DemoOptions {
  write?: (text: string) => void;
  /** Give up waiting for the whispers after this long. */
  timeoutMs?: number;
}

export interface DemoResult {
  whispers: string;
  whispersWide: string;
  certificates: string;
  describe: string;
  /** name of every KernelWhisper, with its signal and workload */
  objects: { name: string; namespace: string; signal: string; workload: string; container: string }[];
}

export async function runDemoScenario(options: DemoOptions = {}): Promise<DemoResult> {
  const say = options.write ?? ((t: string) => process.stdout.write(t));
  const step = (n: number, text: string) => say(`\n\x1b[1m[${n}/7] ${text}\x1b[0m\n`);
  const dir = await mkdtemp(join(tmpdir(), "kernel-gossip-demo-"));
  const children: ChildProcess[] = [];
  const api = await startKubeApi({ kubeconfigPath: join(dir, "kubeconfig.yaml"), bookmarkIntervalMs: 5_000 });
  const kubectl = async (args: string[], show = true): Promise<string> => {
    if (show) say(`$ kubectl ${args.join(" ")}\n`);
    const { stdout } = await run("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], { cwd: repo });
    return stdout;
  };
  let kernel: NodeJS.Timeout | undefined;
  try {
    step(1, "Local Kubernetes API server (test/kube-api) — there is no cluster on this machine");
    say(`serving ${api.url}; kubeconfig ${api.kubeconfigPath}\n`);

    step(2, "Installing the CustomResourceDefinitions");
    say(await kubectl(["apply", "-f", "crds/"]));

    step(3, "Simulating node demo-node's cgroup filesystem (cgroup v2, systemd driver)");
    const cgroupRoot = join(dir, "sys-fs-cgroup");
    const fixture = await CgroupFixture.create(cgroupRoot, { version: 2, driver: "systemd" });
    say(
      `${cgroupRoot} — laid out like a kubelet with the systemd driver and containerd; the demo advances its counters the way the kernel would\n`,
    );

    step(4, "Starting the aggregator and the agent for node demo-node");
    const [streamPort, aggMetrics, agentMetrics] = [await freePort(), await freePort(), await freePort()];
    const env = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn" };
    const logTo = (name: string, child: ChildProcess) => {
      children.push(child);
      child.stderr?.on("data", (d: Buffer) => say(`[${name}] ${d}`));
      child.stdout?.on("data", (d: Buffer) => {
        for (const line of d.toString().split("\n").filter(Boolean)) {
          if (!line.includes('"level":"info"')) say(`[${name}] ${line}\n`);
        }
      });
    };
    logTo(
      "aggregator",
      spawn(bin, ["aggregator"], {
        env: {
          ...env,
          KUBECONFIG: api.kubeconfigPath,
          STREAM_PORT: String(streamPort),
          METRICS_PORT: String(aggMetrics),
          AUTH_MODE: "static",
          STATIC_TOKENS: "demo-token=demo-node",
          CLUSTER_NAME: "demo",
          POD_NAME: "kernel-gossip-aggregator-0",
        },
      }),
    );
    logTo(
      "agent",
      spawn(bin, ["agent"], {
        env: {
          ...env,
          KUBECONFIG: api.kubeconfigPath,
          NODE_NAME: "demo-node",
          CLUSTER_NAME: "demo",
          AGGREGATOR_URL: `ws://127.0.0.1:${streamPort}/stream`,
          AGENT_TOKEN: "demo-token",
          CGROUP_ROOT: cgroupRoot,
          METRICS_PORT: String(agentMetrics),
          SCAN_INTERVAL: "1s",
          THROTTLE_WINDOW: "4s",
          THROTTLE_UPDATE_INTERVAL: "5s",
        },
      }),
    );
    say(`aggregator: ws://127.0.0.1:${streamPort}/stream, metrics http://127.0.0.1:${aggMetrics}/metrics\n`);
    say(`agent:      node demo-node, metrics http://127.0.0.1:${agentMetrics}/metrics\n`);

    step(5, "Creating workloads on demo-node (Deployments, a CronJob's Job, a StatefulSet)");
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    await sleep(1_000); // let the agent list the (still empty) node first: pods are then born under its watch
    const pods = await createWorkloads(kc);
    say(await kubectl(["get", "pods", "-A", "--field-selector", "spec.nodeName=demo-node", "-o", "wide"]));

    step(6, "Playing the kubelet and the kernel");
    const roles: Record<DemoPod["role"], string> = {
      healthy: "starts and becomes Ready",
      "crash-loop": "exits with code 1 and goes into CrashLoopBackOff",
      "oom-killed": "is OOM-killed (exit 137) and restarted by the kubelet",
      throttled: "runs into its 0.5-core CFS quota: ~90 % of periods throttled",
      "kernel-oom": "keeps running while the kernel OOM-kills one of its child processes",
    };
    const cg = new Map<string, { fixture: FixturePod; id: string }>();
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
      say(`- ${p.namespace}/${p.name} (${p.workload}): ${p.container} ${roles[p.role]}\n`);
    }
    const start = Date.now();
    for (const p of pods) {
      await kubectl(
        [
          "patch",
          "pod",
          p.name,
          "-n",
          p.namespace,
          "--subresource=status",
          "--type=merge",
          "-p",
          JSON.stringify(scheduledStatus(start)),
        ],
        false,
      );
    }
    await sleep(300);
    for (const p of pods) {
      const args = ["patch", "pod", p.name, "-n", p.namespace, "--subresource=status", "--type=merge", "-p"];
      const status = runningStatus(p, cg.get(p.uid)?.id ?? "", start + 200, Date.now());
      await kubectl([...args, JSON.stringify(status)], p.role === "crash-loop");
    }
    // The kernel: CFS counters for the throttled container every second, and one OOM kill
    // of a child process in the indexer's cgroup once the agent has a baseline.
    const throttled = pods.find((p) => p.role === "throttled");
    const indexer = pods.find((p) => p.role === "kernel-oom");
    let tick = 0;
    const cpu = { periods: 0, throttled: 0, throttledSeconds: 0, usageSeconds: 0 };
    kernel = setInterval(() => {
      tick++;
      Object.assign(cpu, {
        periods: cpu.periods + 10,
        throttled: cpu.throttled + 9,
        throttledSeconds: cpu.throttledSeconds + 0.41,
        usageSeconds: cpu.usageSeconds + 0.5,
      });
      const t = throttled && cg.get(throttled.uid);
      if (t) void fixture.writeCpu(t.fixture, t.fixture.containers[0], cpu).catch(() => {});
      const i = indexer && cg.get(indexer.uid);
      if (i && tick === 3) {
        void fixture
          .writeMemory(i.fixture, i.fixture.containers[0], { limit: 512 * 2 ** 20, peak: 498 * 2 ** 20 })
          .catch(() => {});
        void fixture.writeOomKills(i.fixture, i.fixture.containers[0], 1).catch(() => {});
      }
    }, 1_000);

    step(7, "Waiting for the aggregator's KernelWhispers");
    const expected = new Set([
      "CrashLoopBackOff/cart",
      "OOMKilled/nightly-report",
      "CPUThrottling/checkout",
      "OOMKilled/search",
    ]);
    const deadline = Date.now() + (options.timeoutMs ?? 45_000);
    let objects: DemoResult["objects"] = [];
    let certificates = 0;
    for (;;) {
      const list = JSON.parse(await kubectl(["get", "kernelwhispers", "-A", "-o", "json"], false)) as {
        items: { metadata: { name: string; namespace: string }; spec: Record<string, unknown> }[];
      };
      objects = list.items.map((i) => ({
        name: i.metadata.name,
        namespace: i.metadata.namespace,
        signal: String(i.spec.signal),
        workload: String((i.spec.workload as { name?: string } | undefined)?.name ?? i.spec.workload),
        container: String(i.spec.container),
      }));
      const pbcs = JSON.parse(await kubectl(["get", "podbirthcertificates", "-A", "-o", "json"], false)) as {
        items: unknown[];
      };
      certificates = pbcs.items.length;
      const seen = new Set(objects.map((o) => `${o.signal}/${o.workload}`));
      if ([...expected].every((e) => seen.has(e)) && certificates >= 4) break;
      if (Date.now() > deadline) {
        say(
          `\ngave up after ${options.timeoutMs ?? 45_000} ms; seen so far: ${[...seen].join(", ") || "nothing"}, ${certificates} birth certificates\n`,
        );
        break;
      }
      await sleep(500);
    }
    say("\n");
    const whispers = await kubectl(["get", "kernelwhispers", "-A"]);
    say(whispers);
    say("\n");
    const whispersWide = await kubectl(["get", "kw", "-A", "-o", "wide"]);
    say(whispersWide);
    say("\n");
    const certs = await kubectl(["get", "podbirthcertificates", "-A"]);
    say(certs);
    say("\n");
    const throttle = objects.find((o) => o.signal === "CPUThrottling");
    const describe = throttle
      ? await kubectl(["describe", "kw", throttle.name, "-n", throttle.namespace])
      : "";
    say(describe);
    return { whispers, whispersWide, certificates: certs, describe, objects };
  } finally {
    if (kernel) clearInterval(kernel);
    say("\ncleaning up: stopping the agent and the aggregator, the API server, removing the temp dir\n");
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill("SIGKILL"), 5_000);
            c.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill("SIGTERM");
          }),
      ),
    );
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The CLI's `demo`: run the scenario, exit non-zero when a whisper did not appear. */
export async function runDemo(): Promise<number> {
  const started = Date.now();
  const result = await runDemoScenario();
  const signals = new Set(result.objects.map((o) => o.signal));
  const ok = ["CrashLoopBackOff", "OOMKilled", "CPUThrottling"].every((s) => signals.has(s));
  process.stdout.write(
    ok
      ? `\ndemo finished in ${((Date.now() - started) / 1000).toFixed(1)} s: ${result.objects.length} KernelWhispers; the healthy web pod has none, only a birth certificate\n`
      : "\ndemo FAILED: not every expected KernelWhisper appeared; the agent and aggregator logs above say why\n",
  );
  return ok ? 0 : 1;
}
