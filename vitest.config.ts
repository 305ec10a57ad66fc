import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{agent,aggregator,shared,cli,demo,test,deploy,crds,bench,proto}/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Processes started through bin/kernel-gossip (the demo, the e2e tests, the CLI tests) run
    // the built artifact, dist/kernel-gossip.mjs, as the image does: what ships is what is
    // tested. The global setup builds it. In-process tests import the TypeScript sources.
    env: { KERNEL_GOSSIP_BUILD: "dist" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests wait on conditions with expect.poll; a loaded two-core machine needs a generous
    // deadline (a passing condition returns at once; only a failing test waits this long).
    expect: { poll: { timeout: 15_000 } },
    // Integration tests start real servers and child processes; two cores.
    pool: "forks",
    maxWorkers: 2,
  },
});
