import { breakerRecordSeconds, ClusterStatus, RunnerStatus, SlicesConfig } from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { Array as Arr, Config, DateTime, Duration, Effect } from "effect"

interface RunnerRow {
  readonly address: string
  readonly healthy: boolean
  readonly last_heartbeat: Date | null
}

interface BreakerRow {
  readonly runner: string
  readonly provider: string
  readonly state: "closed" | "open" | "half-open"
  readonly since: Date
}

/** A breaker row older than three record intervals belongs to a runner that is gone. */
const breakerFreshSeconds = 3 * breakerRecordSeconds

/** The breaker across runners: the worst state any live runner records, and each runner's. */
const breakerSummary = (rows: ReadonlyArray<BreakerRow>) => {
  if (rows.length === 0) {
    return {
      state: "unknown" as const,
      detail: `no runner recorded its breaker in the last ${breakerFreshSeconds} s (delivery workers off or down)`
    }
  }
  const state = rows.some((row) => row.state === "open")
    ? "open" as const
    : rows.some((row) => row.state === "half-open")
    ? "half-open" as const
    : "closed" as const
  const detail = rows.map((row) =>
    `${row.runner} ${row.provider}: ${row.state} since ${row.since.toISOString().slice(0, 19)}Z`
  ).join("; ")
  return { state, detail }
}

interface OwnershipRow {
  readonly slice: number
  readonly runner: string | null
  readonly resident: number
}

/**
 * `SHARD_LOCK_EXPIRATION`, as the runners read it: a runner whose heartbeat is older has lost its
 * lease (its shards may be taken by others, and it fires nothing), whatever `slice_ownership` says.
 */
export const ShardLockExpiration = Config.duration("SHARD_LOCK_EXPIRATION").pipe(
  Config.withDefault(Duration.seconds(6))
)

/**
 * Reads the cluster as the runners record it: `cluster_runners` (the cluster's own table, absent
 * until a runner has started), `slice_ownership` (written by each slice entity) and
 * `provider_breakers` (written by each runner's delivery workers).
 */
export class ClusterInspector extends Effect.Service<ClusterInspector>()("@birthday/server/ClusterInspector", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const totalSlices = yield* SlicesConfig
    const leaseSeconds = Duration.toSeconds(yield* ShardLockExpiration)

    const runnerRows = Effect.gen(function*() {
      const [table] = yield* sql<{ present: boolean }>`SELECT to_regclass('cluster_runners') IS NOT NULL AS present`
      if (!table?.present) return []
      return yield* sql<RunnerRow>`SELECT address, healthy, last_heartbeat FROM cluster_runners ORDER BY address`
    })

    const status = Effect.gen(function*() {
      const runners = yield* runnerRows
      // A slice is owned only by a runner that still holds its lease: healthy, heartbeat fresh in
      // database time. A runner cut off from the others (partition, host lost) keeps its rows in
      // slice_ownership until a new owner claims them; it owns nothing meanwhile.
      const owned = runners.length === 0 ? [] : yield* sql<OwnershipRow>`
        SELECT o.slice, o.runner, o.resident FROM slice_ownership o
        JOIN cluster_runners r ON r.address = o.runner
        WHERE r.healthy AND r.last_heartbeat > now()::timestamp - make_interval(secs => ${leaseSeconds})
        ORDER BY o.slice`
      const byRunner = Arr.groupBy(owned, (row) => row.runner!)
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
      const breakers = yield* sql<BreakerRow>`
        SELECT runner, provider, state, since FROM provider_breakers
        WHERE updated_at > now() - make_interval(secs => ${breakerFreshSeconds}) ORDER BY runner, provider`
      return ClusterStatus.make({
        runners: runners.map((row) => statusOf(row.address, row.healthy, row.last_heartbeat)),
        unownedSlices: Arr.range(0, totalSlices - 1).filter((slice) => !held.has(slice)),
        totalSlices,
        breaker: breakerSummary(breakers)
      })
    }).pipe(Effect.orDie, Effect.withSpan("ClusterInspector.status"))

    return { status } as const
  })
}) {}
