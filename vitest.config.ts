import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration suites start real servers and processes; keep the 2-core machine from thrashing.
    maxWorkers: 2,
    minWorkers: 1
  }
})
