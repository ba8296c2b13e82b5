import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    // Postgres and NATS on their default addresses, started (embedded) when nothing answers there.
    globalSetup: ["packages/runner/test/support/TestInfrastructure.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration suites start real servers and processes; keep the 2-core machine from thrashing.
    maxWorkers: 2,
    minWorkers: 1
  }
})
