import { ClusterStatus, RunnerStatus, SlicesConfig } from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { Array as Arr, DateTime, Effect } from "effect"

interface RunnerRow {
  readonly address: string
  readonly healthy: boolean
  readonly last_heartbeat: Date | null
}

interface OwnershipRow {
  readonly slice: number
  readonly runner: string | null
  readonly resident: number
}

/**
 * Reads the cluster as the runners record it: `cluster_runners` (the cluster's own table, absent
 * until a runner has started) and `slice_ownership` (written by each slice entity).
 */
export class ClusterInspector extends Effect.Service<ClusterInspector>()("@birthday/server/ClusterInspector", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const totalSlices = yield* SlicesConfig

    const runnerRows = Effect.gen(function*() {
      const [table] = yield* sql<{ present: boolean }>`SELECT to_regclass('cluster_runners') IS NOT NULL AS present`
      if (!table?.present) return []
      return yield* sql<RunnerRow>`SELECT address, healthy, last_heartbeat FROM cluster_runners ORDER BY address`
    })

    const status = Effect.gen(function*() {
      const runners = yield* runnerRows
      const owned = yield* sql<OwnershipRow>`
        SELECT slice, runner, resident FROM slice_ownership WHERE runner IS NOT NULL ORDER BY slice`
      const byRunner = Arr.groupBy(owned, (row) => row.runner!)
      const known = new Set(runners.map((runner) => runner.address))
      // A slice can name a runner the cluster no longer lists (it died holding it); show it anyway.
      const orphans = Object.keys(byRunner).filter((address) => !known.has(address))
      const statusOf = (address: string, healthy: boolean, heartbeat: Date | null) => {
        const slices = byRunner[address] ?? []
        return RunnerStatus.make({
          address,
          healthy,
          lastHeartbeat: heartbeat === null ? null : DateTime.unsafeFromDate(heartbeat),
          slices: slices.map((row) => row.slice),
          residentOccurrences: slices.reduce((sum, row) => sum + row.resident, 0)
        })
      }
      const held = new Set(owned.map((row) => row.slice))
      return ClusterStatus.make({
        runners: [
          ...runners.map((row) => statusOf(row.address, row.healthy, row.last_heartbeat)),
          ...orphans.map((address) => statusOf(address, false, null))
        ],
        unownedSlices: Arr.range(0, totalSlices - 1).filter((slice) => !held.has(slice)),
        totalSlices,
        // Delivery workers keep the breaker in memory and export it as a metric only.
        breaker: { state: "unknown", detail: "breaker state is not recorded in Postgres; see /metrics on the runners" }
      })
    }).pipe(Effect.orDie, Effect.withSpan("ClusterInspector.status"))

    return { status } as const
  })
}) {}
