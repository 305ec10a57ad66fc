// The walking skeleton end to end, as `make demo` runs it — with two CPU-burning processes
// beside it, as on a shared CI runner (issue 17: on a loaded machine the demo printed success
// while missing certificates). Real processes, real protobuf over a real WebSocket, the local
// API server, the real kubectl reading the result; and the README shows this very output.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { certificateExpectations, verify, whisperExpectations } from "./expected.ts";
import { runDemoScenario } from "./run.ts";
import { renderVerdict } from "./verdict.ts";

const README = join(import.meta.dirname, "..", "README.md");

/** Cells of each table row; what depends on when it ran (ages, hash suffixes, the agent's clock) masked. */
function normalize(block: string): string[][] {
  const out: string[][] = [];
  let header: string[] = [];
  for (const line of block.split("\n").filter((l) => l.trim() !== "")) {
    if (line.startsWith("$ ")) {
      out.push([line]);
      header = [];
      continue;
    }
    const cells = line.trim().split(/\s{2,}/);
    if (header.length === 0) {
      header = cells;
      out.push(cells);
      continue;
    }
    const col = (name: string) => header.indexOf(name);
    const row = [...cells];
    for (const name of ["AGE", "LAST SEEN"]) if (col(name) >= 0) row[col(name)] = "<age>";
    // How long before the kill MemoryPressure warned depends on the agent's scan phase.
    if (col("MEMORY") >= 0)
      row[col("MEMORY")] = (row[col("MEMORY")] ?? "").replace(/^warned-\d+s$/, "warned-<lead>");
    if (header.includes("POD")) {
      row[col("NAME")] = (row[col("NAME")] ?? "").replace(/-[0-9a-f]{6}$/, "-<hash>");
      // A failed start ends when the agent saw it (its own clock), not at a kubelet timestamp.
      if (row[col("READY")] === "false") {
        row[col("TO READY")] = "<observed>";
        row[col("SLOWEST PHASE")] = (row[col("SLOWEST PHASE")] ?? "").replace(
          /(\d+m)?(\d+s|<1s)$/,
          "<observed>",
        );
      }
    }
    out.push(row);
  }
  return out;
}

describe("make demo", () => {
  it("under CPU load, finds and checks every whisper and certificate it promises, and the README shows its real output", async () => {
    const burners: ChildProcess[] = [0, 1].map(() =>
      spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
    );
    let out = "";
    try {
      const result = await runDemoScenario({ write: (t) => (out += t), timeoutMs: 180_000, color: false });

      for (const f of [...result.findings.whispers, ...result.findings.certificates]) {
        expect(f.problems, `${f.expectation.what}\n${out}`).toEqual([]);
      }
      expect(result.findings.certificates).toHaveLength(5);
      expect(result.ok).toBe(true);
      expect(result.verdict).toMatch(
        /^demo verified: 5 of 5 KernelWhispers and 5 of 5 PodBirthCertificates/m,
      );

      // Column headers as kube-apiserver prints them from the CRD's additionalPrinterColumns
      // (priority 0; NAMESPACE and NAME added by kubectl for -A).
      const crd = parse(
        readFileSync(join(import.meta.dirname, "..", "crds", "kernelwhispers.yaml"), "utf8"),
      ) as {
        spec: { versions: { additionalPrinterColumns: { name: string; priority?: number }[] }[] };
      };
      const columns = (crd.spec.versions[0]?.additionalPrinterColumns ?? [])
        .filter((c) => !c.priority)
        .map((c) => c.name.toUpperCase());
      expect((result.whispers.split("\n")[0] ?? "").split(/\s{2,}/)).toEqual([
        "NAMESPACE",
        "NAME",
        ...columns,
      ]);
      expect(result.whispersWide).toMatch(/deployment-cart\S*\s.*webshop\s+demo-node/);
      expect(result.describe).toContain("Kind:         KernelWhisper");
      // Piped output has no ANSI escapes, and the 1.4 KB status patches are summarised.
      expect(out).not.toContain("\x1b[");
      expect(out).not.toMatch(/-p \{"status"/);

      // The README's sample is this run's output, modulo ages and hash suffixes.
      const readme = readFileSync(README, "utf8");
      const block = /```console\n(\$ kubectl get kernelwhispers -A\n[\s\S]*?)```/.exec(readme)?.[1] ?? "";
      const real = `$ kubectl get kernelwhispers -A\n${result.whispers}\n$ kubectl get podbirthcertificates -A\n${result.certificates}`;
      expect(normalize(block), `README.md's sample differs from this run:\n${real}`).toEqual(normalize(real));
    } finally {
      for (const b of burners) b.kill("SIGKILL");
    }
    expect(out).toContain("cleaning up");
  }, 300_000);

  it("a missing certificate or a wrong field makes the verdict FAILED, naming it", () => {
    const pods = [
      {
        namespace: "shop",
        name: "web-1",
        uid: "u1",
        createdMs: 0,
        container: "nginx",
        role: "healthy",
        qos: "Burstable",
        workload: "Deployment/web",
      },
    ] as const;
    const certificates = verify(certificateExpectations([...pods]), []);
    const whispers = verify(whisperExpectations(), [
      {
        metadata: { namespace: "shop", name: "deployment-cart.api.crash-loop-back-off" },
        spec: {
          signal: "CrashLoopBackOff",
          workload: { name: "cart" },
          container: "api",
          project: "webshop",
        },
        status: {
          severity: "warning",
          count: 1,
          node: "demo-node",
          evidence: { termination: { exitCode: 1 } },
        },
      },
    ]);
    const verdict = renderVerdict({ whispers, certificates }, [], false);
    expect(verdict).toContain("MISSING  PodBirthCertificate for shop/web-1 — not found");
    expect(verdict).toContain(
      'MISSING  KernelWhisper shop CrashLoopBackOff cart/api — severity: want "critical", got "warning"',
    );
    expect(verdict).toMatch(
      /^demo FAILED: 0 of 5 KernelWhispers and 0 of 1 PodBirthCertificates as expected/m,
    );
  });
});
