import { SliceEntity, sliceEntityId, SlicesConfig } from "@birthday/domain"
import { EntityId, Sharding } from "@effect/cluster"
import { Array as Arr, Duration, Effect, Layer, Schedule } from "effect"
import { LocalSlices } from "./LocalSlices.js"

/** How often this runner looks for shards it has just acquired. */
const interval = Duration.millis(100)

/**
 * Starts a slice on this runner as soon as the runner acquires its shard. A slice entity starts on
 * its first message, and the cluster-wide keeper (SliceKeeper) pings every slice only once a
 * round, from wherever its singleton runs; after a hand-over (a rolling restart, a runner joining
 * or leaving) the greetings of a moved slice would wait for that round. Each runner checks its own
 * shard set every 100 ms (in memory, no I/O) and pings, locally, the slices whose shard it holds
 * and which are not resident yet. Untraced: a keep-alive, not work.
 */
export const SliceStarterLive = Layer.scopedDiscard(Effect.gen(function*() {
  const slices = yield* SlicesConfig
  const sharding = yield* Sharding.Sharding
  const local = yield* LocalSlices
  const client = yield* SliceEntity.client
  const shardOf = Arr.range(0, slices - 1).map((slice) => {
    const entityId = EntityId.make(sliceEntityId(slice))
    return sharding.getShardId(entityId, SliceEntity.getShardGroup(entityId))
  })
  const starting = new Set<number>()

  const start = (slice: number) =>
    client(sliceEntityId(slice)).Ping().pipe(
      Effect.timeout(Duration.minutes(1)),
      Effect.ignore,
      Effect.ensuring(Effect.sync(() => starting.delete(slice)))
    )

  const round = Effect.suspend(() => {
    const startNow: Array<number> = []
    for (let slice = 0; slice < slices; slice++) {
      if (local.has(slice) || starting.has(slice) || !sharding.hasShardId(shardOf[slice]!)) continue
      starting.add(slice)
      startNow.push(slice)
    }
    return startNow.length === 0
      ? Effect.void
      : Effect.forEach(startNow, (slice) => Effect.forkScoped(start(slice)), { discard: true })
  })

  yield* round.pipe(
    Effect.repeat(Schedule.spaced(interval)),
    Effect.withTracerEnabled(false),
    Effect.forkScoped
  )
}))
