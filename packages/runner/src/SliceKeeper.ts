import { SliceEntity, sliceEntityId, SlicesConfig } from "@birthday/domain"
import { maintenanceRound } from "@birthday/telemetry/Observability"
import { Singleton } from "@effect/cluster"
import { Array as Arr, Duration, Effect, Layer, Schedule } from "effect"
import { RunnerSettings } from "./RunnerConfig.js"

/**
 * A cluster singleton that pings every slice, forever. A ping starts a slice that is not running,
 * so all slices are resident after boot, fail-over and rebalancing (keepAlive alone is not
 * reliable in this cluster version).
 */
export const SliceKeeperLive = Layer.unwrapEffect(Effect.gen(function*() {
  const slices = yield* SlicesConfig
  const config = yield* RunnerSettings
  return Singleton.make(
    "slice-keeper",
    Effect.gen(function*() {
      const client = yield* SliceEntity.client
      const pingAll = Effect.forEach(
        Arr.range(0, slices - 1),
        (slice) =>
          client(sliceEntityId(slice)).Ping().pipe(
            Effect.timeout(Duration.sum(config.keeperInterval, Duration.seconds(5))),
            Effect.ignore
          ),
        { concurrency: config.keeperConcurrency, discard: true }
      ).pipe(Effect.withSpan("SliceKeeper.pingAll"), maintenanceRound)
      yield* Effect.logInfo("Slice keeper started", { slices })
      yield* pingAll.pipe(Effect.repeat(Schedule.spaced(config.keeperInterval)))
    })
  )
})).pipe(Layer.orDie)
