import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{agent,aggregator,shared,cli,demo,test,deploy,crds,bench,proto}/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and child processes; two cores.
    pool: "forks",
    maxWorkers: 2,
  },
});
