import { defineConfig } from "vitest/config"

// `pnpm test:hosts`: runners on separate network hosts (network namespaces made by the tests;
// needs root). packages/*/test/hosts/*.hosts.ts, one file at a time; kept out of `pnpm test`.
// HOSTS_SHORT=1 is the short form `.ci/run` uses.
export default defineConfig({
  test: {
    include: ["packages/*/test/hosts/**/*.hosts.ts"],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    maxWorkers: 1,
    minWorkers: 1,
    fileParallelism: false
  }
})
