// bin/kernel-gossip, the image's entry point: KERNEL_GOSSIP_AGGREGATOR_NODE_FLAGS gives the
// aggregator Node/V8 flags that only the command line takes (V8's --heap-growing-percent is
// refused in NODE_OPTIONS); without it the aggregator runs with none. Observed from inside the
// started Node: a flag that imports a one-line module printing process.execArgv, then exiting.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

const ENTRY = join(import.meta.dirname, "../../bin/kernel-gossip");
const PRINT = "--import=data:text/javascript,console.log(JSON.stringify(process.execArgv));process.exit(0)";

function execArgv(env: Record<string, string>): string[] {
  const out = execFileSync(ENTRY, ["aggregator"], {
    env: { ...process.env, KERNEL_GOSSIP_BUILD: "", ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split("\n").at(-1) ?? "[]") as string[];
}

it("passes KERNEL_GOSSIP_AGGREGATOR_NODE_FLAGS to the aggregator's Node, which NODE_OPTIONS could not carry", () => {
  expect(execArgv({ KERNEL_GOSSIP_AGGREGATOR_NODE_FLAGS: `--heap-growing-percent=100 ${PRINT}` })).toEqual([
    "--heap-growing-percent=100",
    PRINT,
  ]);
  expect(() =>
    execFileSync(process.execPath, ["-e", "0"], {
      env: { ...process.env, NODE_OPTIONS: "--heap-growing-percent=100" },
      stdio: "pipe",
    }),
  ).toThrow(/not allowed in NODE_OPTIONS/);
});

it("gives the aggregator no Node flags of its own by default", () => {
  // The printing flag must come from somewhere: NODE_OPTIONS takes --import, and is not execArgv.
  expect(execArgv({ NODE_OPTIONS: PRINT, KERNEL_GOSSIP_AGGREGATOR_NODE_FLAGS: "" })).toEqual([]);
});
