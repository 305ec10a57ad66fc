// The walking skeleton end to end, as `make demo` runs it: real processes, real protobuf
// over a real WebSocket, the local API server, and the real kubectl reading the result.
import { describe, expect, it } from "vitest";
import { runDemoScenario } from "./run.ts";

describe("make demo", () => {
  it("shows a KernelWhisper for each failing workload, none for the healthy one, and birth certificates", async () => {
    let out = "";
    const result = await runDemoScenario({ write: (t) => (out += t), timeoutMs: 60_000 });

    // Column headers as kube-apiserver prints them from the CRD's additionalPrinterColumns
    // (NAMESPACE is added by kubectl for -A).
    const header = result.whispers.split("\n")[0] ?? "";
    expect(header.split(/\s{2,}/)).toEqual([
      "NAMESPACE",
      "NAME",
      "WORKLOAD",
      "CONTAINER",
      "SIGNAL",
      "SEVERITY",
      "THROTTLED",
      "COUNT",
      "LAST SEEN",
      "AGE",
    ]);
    expect(result.whispersWide.split("\n")[0]).toMatch(/AGE\s+PROJECT\s+NODE$/);

    const rows = result.whispers.split("\n").slice(1).filter(Boolean);
    const row = (signal: string, workload: string) =>
      rows.find((r) => r.includes(` ${signal} `) && r.includes(` ${workload} `));
    expect(row("CrashLoopBackOff", "cart")).toBeDefined();
    expect(row("OOMKilled", "nightly-report")).toBeDefined();
    expect(row("OOMKilled", "search")).toBeDefined();
    const throttled = row("CPUThrottling", "checkout");
    expect(throttled).toMatch(/ \d+% /);
    expect(rows.some((r) => r.includes(" web "))).toBe(false);

    // project from the namespace label, node from the agent's binding
    expect(result.whispersWide).toMatch(/deployment-cart\S*\s.*webshop\s+demo-node/);

    const certificates = result.certificates.split("\n").slice(1).filter(Boolean);
    expect(certificates.some((r) => r.includes("web-5d8f9c7b4d-x7k2p") && r.includes(" true "))).toBe(true);
    expect(certificates.some((r) => r.includes("cart-7f4b9c6d8-x7k2p") && r.includes(" false "))).toBe(true);

    expect(result.describe).toContain("Kind:         KernelWhisper");
    expect(out).toContain("cleaning up");
  }, 120_000);
});
