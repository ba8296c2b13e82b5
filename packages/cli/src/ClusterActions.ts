import { ClusterStatus, type RunnerStatus } from "@birthday/domain/OperationsApi"
import { Console, DateTime, Effect } from "effect"
import { withApiClient } from "./ApiClient.js"
import type { Connection } from "./CliConfig.js"
import { printJson, printTable } from "./Output.js"
import type { Column } from "./Table.js"

/** `0-63,128,130-131`: slice numbers as ranges. */
export const sliceRanges = (slices: ReadonlyArray<number>): string => {
  if (slices.length === 0) return "-"
  const sorted = [...slices].sort((a, b) => a - b)
  const ranges: Array<string> = []
  let start = sorted[0]!
  let previous = start
  for (const slice of [...sorted.slice(1), Number.NaN]) {
    if (slice === previous + 1) {
      previous = slice
      continue
    }
    ranges.push(start === previous ? `${start}` : `${start}-${previous}`)
    start = previous = slice
  }
  return ranges.join(",")
}

const runnerColumns: ReadonlyArray<Column<RunnerStatus>> = [
  { header: "RUNNER", cell: (runner) => runner.address },
  { header: "HEALTHY", cell: (runner) => runner.healthy ? "yes" : "no" },
  { header: "LAST HEARTBEAT", cell: (runner) => runner.lastHeartbeat ? DateTime.formatIso(runner.lastHeartbeat) : "-" },
  { header: "SLICES", cell: (runner) => String(runner.slices.length), align: "right" },
  { header: "RESIDENT", cell: (runner) => String(runner.residentOccurrences), align: "right" },
  { header: "SLICE IDS", cell: (runner) => sliceRanges(runner.slices) }
]

const printStatus = (status: ClusterStatus) =>
  Effect.gen(function*() {
    yield* printTable(runnerColumns, status.runners, "No runners are registered.")
    yield* Console.log(
      `\n${status.totalSlices - status.unownedSlices.length}/${status.totalSlices} slices held; unowned: ${
        sliceRanges(status.unownedSlices)
      }`
    )
    yield* Console.log(`breaker: ${status.breaker.state} (${status.breaker.detail})`)
  })

/** `birthday cluster status` */
export const showClusterStatus = ({ json, ...connection }: Connection & { readonly json: boolean }) =>
  withApiClient(connection, (client) => client.operations.cluster()).pipe(
    Effect.flatMap((status) => json ? printJson(ClusterStatus, status) : printStatus(status))
  )
