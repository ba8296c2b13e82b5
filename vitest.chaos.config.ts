import { defineConfig } from "vitest/config"

// `pnpm soak`: the chaos suite (packages/*/test/chaos/*.chaos.ts) on real processes, one scenario
// at a time; kept out of `pnpm test`. Short form by default; CHAOS_LONG=1 for the durations.
export default defineConfig({
  test: {
    include: ["packages/*/test/chaos/**/*.chaos.ts"],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    maxWorkers: 1,
    minWorkers: 1,
    fileParallelism: false
  }
})
