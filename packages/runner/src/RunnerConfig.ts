import { SliceHorizonConfig } from "@birthday/domain"
import { Config, Context, Effect, Layer } from "effect"
import { durationSetting, positiveSetting } from "./ConfigFields.js"

/** Defaults that work on one machine; crash fail-over stays under 10 s with this lock expiration. */
export const defaults = {
  runnerHost: "127.0.0.1",
  runnerPort: 34431,
  shardsPerGroup: 300,
  shardLockExpiration: "6 seconds",
  assignmentInterval: "1 second",
  handOverTimeout: "10 seconds",
  topUpInterval: "1 minute",
  resyncInterval: "5 minutes",
  loadBatchSize: 5000,
  fireBatchSize: 5000,
  fireAhead: "5 seconds",
  updateBatchSize: 5000,
  keeperInterval: "2 seconds",
  keeperConcurrency: 32,
  retryDelay: "1 second",
  deliveryWorkers: true
} as const

const duration = durationSetting
const positive = positiveSetting

/** Everything a scheduler runner reads from its environment (never `PORT`/`HOST`). */
export const RunnerConfig = Config.all({
  runnerHost: Config.string("RUNNER_HOST").pipe(
    Config.withDefault(defaults.runnerHost),
    Config.withDescription("Address other runners reach this runner on")
  ),
  runnerPort: Config.port("RUNNER_PORT").pipe(
    Config.withDefault(defaults.runnerPort),
    Config.withDescription("Cluster port of this runner (explicit, so a generic PORT cannot hijack it)")
  ),
  shardsPerGroup: positive("SHARDS_PER_GROUP", defaults.shardsPerGroup, "Cluster shards; equal on every runner"),
  shardLockExpiration: duration(
    "SHARD_LOCK_EXPIRATION",
    defaults.shardLockExpiration,
    "How long a silent runner keeps its shards: the crash fail-over time"
  ),
  assignmentInterval: duration(
    "CLUSTER_ASSIGNMENT_INTERVAL",
    defaults.assignmentInterval,
    "How often a runner reads the runner list: how soon slices move to a joining or from a leaving runner"
  ),
  handOverTimeout: duration(
    "SLICE_HAND_OVER_TIMEOUT",
    defaults.handOverTimeout,
    "At a graceful stop, how long to wait for the other runners to take this runner's slices"
  ),
  horizon: SliceHorizonConfig,
  topUpInterval: duration("SLICE_TOP_UP_INTERVAL", defaults.topUpInterval, "How often a slice extends its horizon"),
  resyncInterval: duration(
    "SLICE_RESYNC_INTERVAL",
    defaults.resyncInterval,
    "How often a slice rebuilds its timers from Postgres (the bound on a lost change notice)"
  ),
  loadBatchSize: positive("SLICE_LOAD_BATCH", defaults.loadBatchSize, "Rows per query when a slice loads"),
  fireBatchSize: positive("SLICE_FIRE_BATCH", defaults.fireBatchSize, "Due occurrences published per round"),
  fireAhead: duration(
    "SLICE_FIRE_AHEAD",
    defaults.fireAhead,
    "How long before its due time a greeting is handed to the queue (workers send it when due): " +
      "a slice that moves between runners within this leaves no gap"
  ),
  updateBatchSize: positive("SLICE_UPDATE_BATCH", defaults.updateBatchSize, "Keys per guarded ledger update"),
  keeperInterval: duration("SLICE_KEEPER_INTERVAL", defaults.keeperInterval, "How often every slice is pinged"),
  keeperConcurrency: positive("SLICE_KEEPER_CONCURRENCY", defaults.keeperConcurrency, "Pings in flight"),
  retryDelay: duration("SLICE_RETRY_DELAY", defaults.retryDelay, "Pause before a failed publish is retried"),
  deliveryWorkers: Config.boolean("DELIVERY_WORKERS").pipe(
    Config.withDefault(defaults.deliveryWorkers),
    Config.withDescription("Run delivery workers in this runner (false: a scheduler-only runner)")
  )
})
export type RunnerConfig = Config.Config.Success<typeof RunnerConfig>

/** The resolved `RunnerConfig`, read once at start. */
export class RunnerSettings extends Context.Tag("@birthday/runner/RunnerSettings")<RunnerSettings, RunnerConfig>() {
  static readonly layer = Layer.effect(RunnerSettings, Effect.orDie(RunnerConfig))

  /** The defaults with some values replaced, for tests and benchmarks. */
  static readonly layerWith = (overrides: Partial<RunnerConfig>) =>
    Layer.effect(
      RunnerSettings,
      Effect.map(Effect.orDie(RunnerConfig), (config) => ({ ...config, ...overrides }))
    )

  /** `host:port`, as the cluster records runners. */
  static readonly address = (config: RunnerConfig): string => `${config.runnerHost}:${config.runnerPort}`
}
