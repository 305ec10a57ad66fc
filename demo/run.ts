// `make demo`: the whole flow on one machine, with the real kubectl. A local Kubernetes API
// server stands in for the cluster, a cgroup tree in a temp dir for node demo-node's
// /sys/fs/cgroup (there is no kubelet or container here, so the demo plays the kubelet's
// and the kernel's parts), and the aggregator and the agent run as real processes.
//
// It waits on conditions, never on time (the CRDs Established, both processes' /readyz,
// the agent's first cgroup scan), checks every object it promises (demo/expected.ts) with
// its key fields, and prints its verdict from what it found: exit 1 when anything is missing.
// The steps are listed here; each part is its own module: the processes (processes.ts), the
// kubelet (kubelet.ts), the kernel (kernel.ts), the read-back and verdict (verdict.ts).
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { startKubeApi } from "../test/kube-api/index.ts";
import { type Finding, satisfied } from "./expected.ts";
import {
  addPodCgroups,
  createNodeCgroups,
  firstScan,
  memoryPressureThenOomKill,
  startCfsTicker,
} from "./kernel.ts";
import { reportStatuses } from "./kubelet.ts";
import { type DemoRoles, startRoles } from "./processes.ts";
import { readBack, renderVerdict } from "./verdict.ts";
import { createWorkloads } from "./workloads.ts";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("..", import.meta.url));

export interface DemoOptions {
  write?: (text: string) => void;
  /** Give up waiting for any one condition after this long (default 120 s). */
  timeoutMs?: number;
  /** Bold step headings (default: only when stdout is a terminal and NO_COLOR is unset). */
  color?: boolean;
}

export interface DemoResult {
  /** Every expectation met, nothing missing. */
  ok: boolean;
  whispers: string;
  whispersWide: string;
  certificates: string;
  describe: string;
  findings: { whispers: Finding[]; certificates: Finding[] };
  /** The verdict as printed. */
  verdict: string;
}

export async function runDemoScenario(options: DemoOptions = {}): Promise<DemoResult> {
  const say = options.write ?? ((t: string) => process.stdout.write(t));
  const color = options.color ?? (Boolean(process.stdout.isTTY) && !process.env.NO_COLOR);
  const bold = (t: string) => (color ? `\x1b[1m${t}\x1b[0m` : t);
  const step = (n: number, text: string) => say(`\n${bold(`[${n}/7] ${text}`)}\n`);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const dir = await mkdtemp(join(tmpdir(), "kernel-gossip-demo-"));
  const api = await startKubeApi({ kubeconfigPath: join(dir, "kubeconfig.yaml"), bookmarkIntervalMs: 5_000 });
  const kubectl = async (args: string[], show = true): Promise<string> => {
    if (show) say(`$ kubectl ${args.join(" ")}\n`);
    const { stdout } = await run("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], { cwd: repo });
    return stdout;
  };
  let roles: DemoRoles | undefined;
  let stopKernel = () => {};
  try {
    step(1, "Local Kubernetes API server (test/kube-api) — there is no cluster on this machine");
    say(`serving ${api.url}; kubeconfig ${api.kubeconfigPath}\n`);

    step(2, "Installing the CustomResourceDefinitions");
    say(await kubectl(["apply", "-f", "crds/"]));
    say(await kubectl(["wait", "--for", "condition=established", "crd", "--all", "--timeout=60s"]));
    // Where kernel-gossip itself runs: the aggregator's Leases and the agent ConfigMap live here.
    say(await kubectl(["create", "namespace", "kernel-gossip"]));

    step(3, "Simulating node demo-node's cgroup filesystem (cgroup v2, systemd driver)");
    const cgroupRoot = join(dir, "sys-fs-cgroup");
    const fixture = await createNodeCgroups(cgroupRoot);
    say(
      `${cgroupRoot} — laid out like a kubelet with the systemd driver and containerd; the demo advances its counters the way the kernel would\n`,
    );

    step(4, "Starting the aggregator and the agent for node demo-node");
    roles = await startRoles({ kubeconfigPath: api.kubeconfigPath, cgroupRoot, say });
    await roles.ready(timeoutMs);
    say(
      `aggregator: ws://127.0.0.1:${roles.streamPort}/stream, metrics http://127.0.0.1:${roles.aggregatorMetricsPort}/metrics\n`,
    );
    say(`agent:      node demo-node, metrics http://127.0.0.1:${roles.agentMetricsPort}/metrics\n`);

    step(5, "Creating workloads on demo-node (Deployments, a CronJob's Job, a StatefulSet)");
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    const pods = await createWorkloads(kc);
    say(await kubectl(["get", "pods", "-A", "--field-selector", "spec.nodeName=demo-node", "-o", "wide"]));

    step(6, "Playing the kubelet and the kernel");
    const cg = await addPodCgroups(fixture, pods, say);
    await reportStatuses(pods, (p) => cg.get(p.uid)?.id ?? "", kubectl, say);
    // The kernel: CFS counters for the throttled container every second; one OOM kill of a
    // child process in the indexer's cgroup once the agent has scanned every container
    // (its first scan takes the counters' baseline).
    stopKernel = startCfsTicker(fixture, pods, cg);
    await firstScan(roles.agentMetricsPort, pods, timeoutMs);
    await memoryPressureThenOomKill({ fixture, pods, cg, kubectl, say, timeoutMs });

    step(7, "Waiting for every KernelWhisper and PodBirthCertificate, checking their fields");
    const list = async (plural: string) =>
      (JSON.parse(await kubectl(["get", plural, "-A", "-o", "json"], false)) as { items: unknown[] }).items;
    const { findings, unexpected } = await readBack(pods, list, timeoutMs);
    say("\n");
    const whispers = await kubectl(["get", "kernelwhispers", "-A"]);
    say(whispers);
    say("\n");
    const whispersWide = await kubectl(["get", "kw", "-A", "-o", "wide"]);
    say(whispersWide);
    say("\n");
    const certificates = await kubectl(["get", "podbirthcertificates", "-A"]);
    say(certificates);
    say("\n");
    const throttle = findings.whispers.find((f) => f.found && f.expectation.what.includes("CPUThrottling"));
    const throttleName = throttle?.summary.split(":")[0];
    const describe = throttleName
      ? await kubectl([
          "describe",
          "kw",
          throttleName.split("/")[1] ?? "",
          "-n",
          throttleName.split("/")[0] ?? "",
        ])
      : "";
    say(describe);

    const ok = satisfied(findings.whispers) && satisfied(findings.certificates) && unexpected.length === 0;
    const verdict = renderVerdict(findings, unexpected, ok);
    say(`\n${verdict}`);
    return { ok, whispers, whispersWide, certificates, describe, findings, verdict };
  } finally {
    stopKernel();
    say("\ncleaning up: stopping the agent and the aggregator, the API server, removing the temp dir\n");
    // Newest first: the agent stops (flushing what it holds) while its aggregator still
    // answers, then the aggregator — so a clean demo ends without a shutdown warning.
    await roles?.stop();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The CLI's `demo`: run the scenario, exit 1 when anything it promises is missing or wrong. */
export async function runDemo(): Promise<number> {
  const started = Date.now();
  try {
    const result = await runDemoScenario();
    process.stdout.write(`demo took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return result.ok ? 0 : 1;
  } catch (err) {
    process.stdout.write(`\ndemo FAILED: ${(err as Error).message}\n`);
    return 1;
  }
}
