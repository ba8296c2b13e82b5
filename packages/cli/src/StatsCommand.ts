import { LedgerState, LedgerStats } from "@birthday/domain"
import { Command } from "@effect/cli"
import { Console, DateTime, Effect } from "effect"
import { withApiClient } from "./ApiClient.js"
import { connectionOptions, jsonOption } from "./CliConfig.js"
import { withExamples } from "./CommandHelp.js"
import { printJson, printTable } from "./Output.js"

const ms = (value: number | null) => value === null ? "-" : `${Math.round(value)} ms`

const printStats = (stats: LedgerStats) =>
  Effect.gen(function*() {
    const states = LedgerState.literals.map((state) => ({ state, count: stats.states[state] ?? 0 }))
    yield* printTable([
      { header: "STATE", cell: (row) => row.state },
      { header: "OCCURRENCES", cell: (row) => String(row.count), align: "right" }
    ], states)
    const { lateness } = stats
    yield* Console.log(
      `\nlateness (sent − due, last ${lateness.windowSeconds / 60} min, ${lateness.samples} sent): ` +
        `p50 ${ms(lateness.p50Ms)}, p99 ${ms(lateness.p99Ms)}`
    )
    yield* Console.log(`pending backlog (due, not yet sent): ${stats.pendingBacklog}`)
    yield* Console.log(`as of ${DateTime.formatIso(stats.at)}`)
  })

/** `birthday stats` */
export const statsCommand = Command.make(
  "stats",
  { ...connectionOptions, json: jsonOption },
  ({ json, ...connection }) =>
    withApiClient(connection, (client) => client.operations.stats()).pipe(
      Effect.flatMap((stats) => json ? printJson(LedgerStats, stats) : printStats(stats))
    )
).pipe(Command.withDescription(withExamples(
  "Occurrences per ledger state, lateness p50/p99 over the last hour, and the backlog of due greetings.",
  ["birthday stats", "birthday stats --json | jq .pendingBacklog"]
)))
