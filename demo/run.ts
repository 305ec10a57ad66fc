// `make demo`: the whole flow on one machine, with the real kubectl. A local Kubernetes API
// server stands in for the cluster, a cgroup tree in a temp dir for node demo-node's
// /sys/fs/cgroup (there is no kubelet or container here, so the demo plays the kubelet's
// and the kernel's parts), and the aggregator and the agent run as real processes.
//
// It waits on conditions, never on time (the CRDs Established, both processes' /readyz,
// the agent's first cgroup scan), checks every object it promises (demo/expected.ts) with
// its key fields, and prints its verdict from what it found: exit 1 when anything is missing.
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
import { certificateExpectations, type Finding, satisfied, verify, whisperExpectations } from "./expected.ts";
import { kubeletStatus, reportedAfter, statusSummary } from "./kubelet.ts";
import { createWorkloads, type DemoPod } from "./workloads.ts";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("..", import.meta.url));
const bin = join(repo, "bin", "kernel-gossip");
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `gave up after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`,
      );
    await pause(250);
  }
}

const httpText = async (url: string): Promise<{ status: number; body: string }> => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.text()).trim() };
};

export async function runDemoScenario(options: DemoOptions = {}): Promise<DemoResult> {
  const say = options.write ?? ((t: string) => process.stdout.write(t));
  const color = options.color ?? (Boolean(process.stdout.isTTY) && !process.env.NO_COLOR);
  const bold = (t: string) => (color ? `\x1b[1m${t}\x1b[0m` : t);
  const step = (n: number, text: string) => say(`\n${bold(`[${n}/7] ${text}`)}\n`);
  const timeoutMs = options.timeoutMs ?? 120_000;
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
    say(await kubectl(["wait", "--for", "condition=established", "crd", "--all", "--timeout=60s"]));
    // Where kernel-gossip itself runs: the aggregator's Leases and the agent ConfigMap live here.
    say(await kubectl(["create", "namespace", "kernel-gossip"]));

    step(3, "Simulating node demo-node's cgroup filesystem (cgroup v2, systemd driver)");
    const cgroupRoot = join(dir, "sys-fs-cgroup");
    const fixture = await CgroupFixture.create(cgroupRoot, { version: 2, driver: "systemd" });
    say(
      `${cgroupRoot} — laid out like a kubelet with the systemd driver and containerd; the demo advances its counters the way the kernel would\n`,
    );

    step(4, "Starting the aggregator and the agent for node demo-node");
    const [streamPort, aggMetrics, agentMetrics] = [await freePort(), await freePort(), await freePort()];
    const env = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn" };
    const exited = new Map<string, string>();
    const logTo = (name: string, child: ChildProcess) => {
      children.push(child);
      child.stderr?.on("data", (d: Buffer) => say(`[${name}] ${d}`));
      child.stdout?.on("data", (d: Buffer) => {
        for (const line of d.toString().split("\n").filter(Boolean)) {
          if (!line.includes('"level":"info"')) say(`[${name}] ${line}\n`);
        }
      });
      child.once("exit", (code, signal) => exited.set(name, `exited with ${signal ?? code}`));
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
          MEMORY_WINDOW: "2s",
        },
      }),
    );
    // Ready means: the aggregator reaches the API server and both CRDs are served; the agent
    // has listed demo-node's pods, so every pod created from now on is born under its watch
    // (a pod that exists before the first list gets no certificate, by design).
    for (const [name, port] of [
      ["aggregator", aggMetrics],
      ["agent", agentMetrics],
    ] as const) {
      let last = "";
      await until(`the ${name}'s /readyz (last answer: ${last || "none"})`, timeoutMs, async () => {
        const gone = exited.get(name);
        if (gone) throw new Error(`the ${name} ${gone}; its log above says why`);
        const r = await httpText(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
        last = r ? `${r.status} ${r.body}` : "";
        return r?.status === 200 ? true : undefined;
      });
      say(`${name.padEnd(10)} ready: http://127.0.0.1:${port}/readyz answers ok\n`);
    }
    say(`aggregator: ws://127.0.0.1:${streamPort}/stream, metrics http://127.0.0.1:${aggMetrics}/metrics\n`);
    say(`agent:      node demo-node, metrics http://127.0.0.1:${agentMetrics}/metrics\n`);

    step(5, "Creating workloads on demo-node (Deployments, a CronJob's Job, a StatefulSet)");
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    const pods = await createWorkloads(kc);
    say(await kubectl(["get", "pods", "-A", "--field-selector", "spec.nodeName=demo-node", "-o", "wide"]));

    step(6, "Playing the kubelet and the kernel");
    const roles: Record<DemoPod["role"], string> = {
      healthy: "starts and becomes Ready",
      "crash-loop": "exits with code 1 and goes into CrashLoopBackOff",
      "oom-killed": "is OOM-killed (exit 137) and restarted by the kubelet",
      throttled: "runs into its 0.5-core CFS quota: ~90 % of periods throttled",
      "kernel-oom":
        "nears its memory limit (MemoryPressure), then keeps running while the kernel OOM-kills one of its child processes",
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
    for (const p of pods) {
      // The kubelet writes a status once what it says has happened, never ahead of the clock.
      const due = p.createdMs + reportedAfter(p) * 1000;
      if (Date.now() < due) await pause(due - Date.now());
      const status = kubeletStatus(p, cg.get(p.uid)?.id ?? "", p.createdMs);
      say(
        `$ kubectl patch pod ${p.name} -n ${p.namespace} --subresource=status --type=merge -p '<${statusSummary(p)}>'\n`,
      );
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
          JSON.stringify(status),
        ],
        false,
      );
    }
    // The kernel: CFS counters for the throttled container every second; one OOM kill of a
    // child process in the indexer's cgroup once the agent has scanned every container
    // (its first scan takes the counters' baseline).
    const throttled = pods.find((p) => p.role === "throttled");
    const cpu = { periods: 0, throttled: 0, throttledSeconds: 0, usageSeconds: 0 };
    kernel = setInterval(() => {
      Object.assign(cpu, {
        periods: cpu.periods + 10,
        throttled: cpu.throttled + 9,
        throttledSeconds: cpu.throttledSeconds + 0.41,
        usageSeconds: cpu.usageSeconds + 0.5,
      });
      const t = throttled && cg.get(throttled.uid);
      if (t) void fixture.writeCpu(t.fixture, t.fixture.containers[0], cpu).catch(() => {});
    }, 1_000);
    // Every running container (the crash-looping one is waiting, so it has no live cgroup).
    const running = pods.filter((p) => p.role !== "crash-loop").length;
    await until("the agent's first scan of every running container's cgroup", timeoutMs, async () => {
      const { body } = await httpText(`http://127.0.0.1:${agentMetrics}/metrics`);
      const scanned = Number(/^kernel_gossip_agent_cgroup_containers (\S+)$/m.exec(body)?.[1] ?? 0);
      return scanned >= running ? true : undefined;
    });
    const indexer = pods.find((p) => p.role === "kernel-oom");
    const i = indexer && cg.get(indexer.uid);
    if (i) {
      // First the warning: its working set climbs to 495 of its 512 MiB and stays there, so the
      // agent opens a MemoryPressure episode; the kill comes only once that whisper exists.
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
      say(
        `- the kernel OOM-kills a child process in ${indexer.namespace}/${indexer.name} (oom_kill 0 → 1)\n`,
      );
    }

    step(7, "Waiting for every KernelWhisper and PodBirthCertificate, checking their fields");
    const whisperChecks = whisperExpectations();
    const certificateChecks = certificateExpectations(pods);
    const list = async (plural: string) =>
      (JSON.parse(await kubectl(["get", plural, "-A", "-o", "json"], false)) as { items: unknown[] }).items;
    let findings = { whispers: [] as Finding[], certificates: [] as Finding[] };
    let unexpected: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [whisperItems, certificateItems] = [
        await list("kernelwhispers"),
        await list("podbirthcertificates"),
      ];
      findings = {
        whispers: verify(whisperChecks, whisperItems),
        certificates: verify(certificateChecks, certificateItems),
      };
      // The healthy pod must have no whisper at all.
      unexpected = (
        whisperItems as {
          metadata: { namespace: string; name: string };
          spec?: { workload?: { name?: string } };
        }[]
      )
        .filter((w) => w.spec?.workload?.name === "web")
        .map((w) => `${w.metadata.namespace}/${w.metadata.name}`);
      if ((satisfied(findings.whispers) && satisfied(findings.certificates)) || Date.now() > deadline) break;
      await pause(500);
    }
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
    if (kernel) clearInterval(kernel);
    say("\ncleaning up: stopping the agent and the aggregator, the API server, removing the temp dir\n");
    // Newest first: the agent stops (flushing what it holds) while its aggregator still
    // answers, then the aggregator — so a clean demo ends without a shutdown warning.
    for (const c of [...children].reverse()) {
      await new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        const timer = setTimeout(() => c.kill("SIGKILL"), 5_000);
        c.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        c.kill("SIGTERM");
      });
    }
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function renderVerdict(
  findings: { whispers: Finding[]; certificates: Finding[] },
  unexpected: string[],
  ok: boolean,
): string {
  const lines: string[] = ["verdict (every object below was read back with kubectl and its fields checked):"];
  for (const f of [...findings.whispers, ...findings.certificates]) {
    lines.push(
      f.problems.length === 0
        ? `  ok       ${f.expectation.what} — ${f.summary}`
        : `  MISSING  ${f.expectation.what} — ${f.problems.join("; ")}`,
    );
  }
  for (const u of unexpected) lines.push(`  MISSING  no KernelWhisper for the healthy web pod — found ${u}`);
  const count = (fs: Finding[]) => `${fs.filter((f) => f.problems.length === 0).length} of ${fs.length}`;
  lines.push(
    ok
      ? `demo verified: ${count(findings.whispers)} KernelWhispers and ${count(findings.certificates)} PodBirthCertificates as expected, none for the healthy web pod`
      : `demo FAILED: ${count(findings.whispers)} KernelWhispers and ${count(findings.certificates)} PodBirthCertificates as expected${unexpected.length ? `, ${unexpected.length} unexpected` : ""}; the agent and aggregator logs above say why`,
  );
  return `${lines.join("\n")}\n`;
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
