import { OccasionSettings } from "@birthday/domain"
import { MigrationsLive } from "@birthday/ledger/Database"
import { DeliveryLedger } from "@birthday/ledger/DeliveryLedger"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { RunnerAddress, ShardingConfig, SqlMessageStorage, SqlRunnerStorage } from "@effect/cluster"
import { NodeClusterSocket } from "@effect/platform-node"
import { Effect, Layer, Option, Schedule } from "effect"
import { DeliverySettings } from "./DeliveryConfig.js"
import { DeliveryLive, SweeperLive } from "./DeliveryLive.js"
import { DeliveryPublisher } from "./DeliveryPublisher.js"
import { DeliveryStreamsLive } from "./DeliveryStreams.js"
import { DueDispatcher } from "./DueDispatcher.js"
import { LocalSlices } from "./LocalSlices.js"
import { Nats } from "./Nats.js"
import { OccurrenceChangesLive } from "./OccurrenceChanges.js"
import { OperationsServer } from "./OperationsServer.js"
import { RunnerPgLive, ShardLockPgLive } from "./PgSessionLiveness.js"
import { RunnerSettings } from "./RunnerConfig.js"
import { SliceHandOverLive } from "./SliceHandOver.js"
import { SliceKeeperLive } from "./SliceKeeper.js"
import { SliceLease } from "./SliceLease.js"
import { SliceLive } from "./SliceLive.js"
import { SliceOwnership } from "./SliceOwnership.js"
import { SliceStarterLive } from "./SliceStarter.js"

/**
 * This process as a cluster runner on Postgres storage: messages on the runner's pool, runners
 * and shard locks on a pool of their own (ShardLockPgLive: a stopped process loses its locks).
 * Every sharding setting that matters is passed explicitly: the cluster would otherwise read
 * `HOST`/`PORT` from the environment.
 */
export const ClusterLive = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* RunnerSettings
  const shardingConfig = {
    runnerAddress: Option.some(RunnerAddress.make(config.runnerHost, config.runnerPort)),
    shardsPerGroup: config.shardsPerGroup,
    shardLockExpiration: config.shardLockExpiration,
    refreshAssignmentsInterval: config.assignmentInterval
  }
  const storage = Layer.merge(
    Layer.orDie(SqlMessageStorage.layer),
    Layer.orDie(SqlRunnerStorage.layer).pipe(Layer.provide(ShardLockPgLive))
  ).pipe(Layer.provide(ShardingConfig.layerFromEnv(shardingConfig)))
  return NodeClusterSocket.layer({ storage: "byo", shardingConfig }).pipe(Layer.provide(storage))
})).pipe(
  // Runners booting together on a fresh database race on the cluster's own table creation.
  Layer.retry(Schedule.spaced("1 second").pipe(Schedule.compose(Schedule.recurs(5)))),
  Layer.orDie
)

/** The scheduler: slice entities, the keeper singleton, the local starter and the change listener. */
export const SchedulerLive = Layer.mergeAll(SliceLive, SliceKeeperLive, SliceStarterLive, OccurrenceChangesLive).pipe(
  Layer.provide(DueDispatcher.layer),
  Layer.provide([
    DeliveryPublisher.layerJetStream,
    SliceOwnership.Default,
    OccurrenceLedger.Default,
    DeliveryLedger.layer,
    Layer.orDie(OccasionSettings.layer)
  ])
)

/** What a runner runs, all on one cluster runner, NATS connection and Postgres pool. */
const components = Layer.mergeAll(
  SchedulerLive,
  // `DELIVERY_WORKERS=false`: a scheduler-only runner (slices and the ledger's sweeper, no email sending).
  Layer.unwrapEffect(Effect.map(RunnerSettings, (settings) => settings.deliveryWorkers ? DeliveryLive : SweeperLive)),
  // Every runner, scheduler-only too, serves its metrics and health.
  OperationsServer.layer.pipe(Layer.provide(DeliverySettings.layer))
)

/**
 * A complete runner process: migrations, streams, cluster membership and the components. The
 * slice hand-over is built last so that it is released first, while everything else still runs.
 */
export const RunnerLive = SliceHandOverLive.pipe(
  Layer.provideMerge(components),
  // One slice lease and one set of resident slices, shared by the slices and the readiness route.
  Layer.provide(Layer.mergeAll(SliceLease.Default, LocalSlices.layer)),
  Layer.provide(ClusterLive),
  Layer.provide(DeliveryStreamsLive),
  Layer.provide(MigrationsLive),
  Layer.provideMerge(Nats.layer),
  // Postgres frees a vanished runner's slices within seconds, not hours (see PgSessionLiveness).
  Layer.provideMerge(RunnerPgLive),
  Layer.provideMerge(RunnerSettings.layer)
)
