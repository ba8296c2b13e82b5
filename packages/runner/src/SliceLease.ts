import { maintenanceRound } from "@birthday/telemetry/Observability"
import { type ShardId, Sharding } from "@effect/cluster"
import { SqlClient } from "@effect/sql"
import { Duration, Effect, Layer, Schedule } from "effect"
import { performance } from "node:perf_hooks"
import { RunnerSettings } from "./RunnerConfig.js"

interface HeartbeatRow {
  readonly healthy: boolean
  /** `last_heartbeat + shardLockExpiration - now()`, in database time. */
  readonly remaining_ms: number
}

/**
 * Self-fencing. Other runners take this runner's shards (and so its slices) only once its
 * `cluster_runners` heartbeat is older than `shardLockExpiration` in database time, or it is
 * marked unhealthy; until then no one else is assigned them. This service re-reads that heartbeat
 * about every `shardLockExpiration / 6` and keeps, on this process's monotonic clock, the instant
 * until which the lease is certainly still ours: the read's *send* time plus what was left of the
 * lease when Postgres answered, less a margin. A slice fires a round only while `holds` says so:
 * a runner that cannot renew (partitioned, its database stalled, its process paused and resumed)
 * stops firing before anyone else can start, whatever its wall clock says. The cluster's own
 * shard bookkeeping (`Sharding.hasShardId`) is checked too, so a shard being handed over during a
 * rebalance stops firing at once.
 */
export class SliceLease extends Effect.Service<SliceLease>()("@birthday/runner/SliceLease", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const sharding = yield* Sharding.Sharding
    const settings = yield* RunnerSettings
    const address = RunnerSettings.address(settings)
    const expirationMs = Duration.toMillis(settings.shardLockExpiration)
    const interval = Duration.millis(Math.max(200, expirationMs / 6))
    const marginMs = expirationMs / 6
    // Monotonic milliseconds (performance.now()); 0 = not held.
    let validUntil = 0
    // Set by a graceful stop's hand-over, which marks this runner unhealthy itself: its shards
    // still move only once it releases their locks (and each slice stops before its lock goes),
    // so until then its slices keep firing rather than leave a gap before the new holders start.
    let handingOver = false

    const renew = Effect.gen(function*() {
      const sentAt = performance.now()
      const rows = yield* sql<HeartbeatRow>`
        SELECT healthy,
               EXTRACT(EPOCH FROM (last_heartbeat + make_interval(secs => ${expirationMs / 1000}) - now()::timestamp))
                 * 1000 AS remaining_ms
        FROM cluster_runners WHERE address = ${address}`
      const row = rows[0]
      validUntil = row !== undefined && (row.healthy || handingOver)
        ? Math.max(validUntil, sentAt + Number(row.remaining_ms) - marginMs)
        : 0
    }).pipe(
      Effect.timeout(interval),
      Effect.catchAllCause(() => Effect.void),
      Effect.withSpan("SliceLease.renew"),
      maintenanceRound
    )
    yield* renew.pipe(Effect.repeat(Schedule.spaced(interval)), Effect.forkScoped)

    /** Whether this runner may fire the slices of `shardId` now. */
    const holds = (shardId: ShardId.ShardId) =>
      Effect.sync(() => performance.now() < validUntil && sharding.hasShardId(shardId))

    /** Milliseconds of lease left (0 when lost), for readiness. */
    const remaining = Effect.sync(() => Math.max(0, validUntil - performance.now()))

    /** A graceful stop is handing the slices over: this runner's own "unhealthy" mark does not end the lease. */
    const handOver = Effect.sync(() => {
      handingOver = true
    })

    return { holds, remaining, handOver } as const
  })
}) {
  /** Always held: single-process tests on the cluster's in-memory test runner, which has no heartbeat table. */
  static readonly layerAlwaysHeld = Layer.succeed(
    SliceLease,
    SliceLease.make({ holds: () => Effect.succeed(true), remaining: Effect.succeed(Infinity), handOver: Effect.void })
  )
}
