import { LedgerState } from "@birthday/domain/LedgerState"
import { LedgerStats } from "@birthday/domain/OperationsApi"
import { Console, DateTime, Effect } from "effect"
import { withApiClient } from "./ApiClient.js"
import type { Connection } from "./CliConfig.js"
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
export const showStats = ({ json, ...connection }: Connection & { readonly json: boolean }) =>
  withApiClient(connection, (client) => client.operations.stats()).pipe(
    Effect.flatMap((stats) => json ? printJson(LedgerStats, stats) : printStats(stats))
  )
