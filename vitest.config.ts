import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The JSON report feeds the one-line summary that .ci/run prints.
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest.json" },
    projects: [
      {
        // Pure logic and local sockets only: runs in seconds, no control plane. First and alone, so that its results
        // come first (within a group, files are ordered slowest first, which put the unit tests last).
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "sim/**/*.test.ts", "scripts/**/*.test.ts"],
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Against one real control plane per run (started by the global setup), a namespace per file.
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 90_000,
          hookTimeout: 120_000,
          pool: "forks",
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // The whole operator in a simulated cluster, each file on a control plane of its own. Run after the rest
        // and one file at a time: these measure rollouts, which other test files' load would distort.
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          pool: "forks",
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
