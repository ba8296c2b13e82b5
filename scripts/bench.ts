/**
 * `pnpm bench <suite>`: runs one benchmark suite and prints its figures.
 * Suites register themselves in the table below as they are built.
 */
const suites: Record<string, string> = {
  api: "./bench/api.ts",
  calendar: "./bench/calendar.ts",
  delivery: "./bench/delivery.ts",
  failover: "./bench/failover.ts",
  "email-sim": "./bench/email-sim.ts",
  import: "./bench/import.ts",
  scheduler: "./bench/scheduler.ts"
}

const name = process.argv[2]
if (!name || !(name in suites)) {
  console.error(`usage: pnpm bench <${Object.keys(suites).join("|") || "suite"}>`)
  process.exit(2)
}
await import(suites[name]!)
