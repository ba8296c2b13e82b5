/**
 * `pnpm bench delivery`: acknowledged sends per second end to end (JetStream → claim → render →
 * POST → ledger → ack) against the simulator running as its own process, next to a bare undici
 * POST loop against the same simulator in the same run, then again with 10% provider errors.
 * Commands are published before the workers start, so the figure is the delivery pipeline's.
 */
import { EmailSimAdmin } from "@birthday/email-sim"
import * as SendLoad from "@birthday/email-sim/SendLoad"
import { NodeRuntime } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { Config, Console, Effect, Layer, Logger, LogLevel } from "effect"
import type { DeliveryConfig } from "../../src/DeliveryConfig.js"
import {
  infraLayer,
  publishAll,
  seedOccurrences,
  simulatorProcess,
  stateCounts,
  testRun,
  workersLayer
} from "../support/DeliveryHarness.js"

const BenchConfig = Config.all({
  occurrences: Config.integer("DELIVERY_BENCH_OCCURRENCES").pipe(Config.withDefault(100_000)),
  concurrency: Config.integer("DELIVERY_BENCH_CONCURRENCY").pipe(Config.withDefault(256)),
  bareSeconds: Config.number("DELIVERY_BENCH_BARE_SECONDS").pipe(Config.withDefault(5)),
  slowOccurrences: Config.integer("DELIVERY_BENCH_SLOW_OCCURRENCES").pipe(Config.withDefault(1_500))
})

/** Delivers `occurrences` through the real pipeline and returns acknowledged sends per second. */
const pipeline = (baseUrl: string, occurrences: number, concurrency: number, overrides: Partial<DeliveryConfig> = {}) =>
  Effect.gen(function*() {
    const run = yield* testRun
    const infra = yield* Layer.build(infraLayer(run))
    return yield* Effect.gen(function*() {
      const rows = yield* seedOccurrences(occurrences)
      yield* publishAll(rows)
      const before = yield* EmailSimAdmin.stats(baseUrl)
      const started = performance.now()
      yield* Layer.build(
        workersLayer(baseUrl, {
          concurrency,
          batchSize: 512,
          fetchBuffer: 4096,
          requestTimeout: "5 seconds" as never,
          ackWait: "60 seconds" as never,
          maxAttempts: 50,
          breakerConsecutiveFailures: 1000,
          breakerFailureRate: 1,
          ...overrides
        }).pipe(Layer.provide(Layer.succeedContext(infra)))
      )
      // Poll the simulator (cheap), then confirm in the ledger: a count over the table every
      // 50 ms would itself load Postgres.
      while ((yield* EmailSimAdmin.stats(baseUrl)).acknowledged - before.acknowledged < occurrences) {
        yield* Effect.sleep("50 millis")
      }
      while (((yield* stateCounts).sent ?? 0) < occurrences) yield* Effect.sleep("20 millis")
      const seconds = (performance.now() - started) / 1000
      const after = yield* EmailSimAdmin.stats(baseUrl)
      const sql = yield* SqlClient.SqlClient
      const [timedOut] = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM delivery_attempts WHERE outcome = 'ambiguous'`
      return {
        occurrences,
        seconds: Number(seconds.toFixed(2)),
        sendsPerSecond: Math.round(occurrences / seconds),
        requests: after.received - before.received,
        acknowledged: after.acknowledged - before.acknowledged,
        duplicatesRefused: after.duplicatesRefused - before.duplicatesRefused,
        timedOut: timedOut?.n ?? 0
      }
    }).pipe(Effect.provide(infra))
  }).pipe(Effect.scoped)

/** The benchmark: one JSON line per figure. */
export const deliveryBench = Effect.gen(function*() {
  const config = yield* BenchConfig
  const baseUrl = yield* simulatorProcess({})
  yield* SendLoad.run({
    baseUrl,
    concurrency: config.concurrency,
    durationMs: 2_000,
    maxRequests: 50_000,
    keyPrefix: "warm"
  })
  yield* EmailSimAdmin.reset(baseUrl)
  const bare = yield* SendLoad.run({
    baseUrl,
    concurrency: config.concurrency,
    durationMs: config.bareSeconds * 1000,
    maxRequests: 2_000_000,
    keyPrefix: "bare"
  })
  yield* Console.log(
    JSON.stringify({ suite: "delivery", run: "bare undici loop", perSecond: Math.round(bare.perSecond) })
  )
  const clean = yield* pipeline(baseUrl, config.occurrences, config.concurrency)
  yield* Console.log(JSON.stringify({
    suite: "delivery",
    run: "pipeline, no faults",
    ...clean,
    ratioToBare: Number((clean.sendsPerSecond / bare.perSecond).toFixed(2))
  }))
  yield* EmailSimAdmin.setConfig(baseUrl, { errorRate: 0.1 })
  const faulty = yield* pipeline(baseUrl, config.occurrences, config.concurrency)
  yield* Console.log(JSON.stringify({ suite: "delivery", run: "pipeline, 10% errors", ...faulty }))
  // A provider that queues: 10 ms plus 20 ms per request already in flight (best 50/s at any
  // concurrency; 256 in flight would take 5.1 s, past the 5 s timeout). The adaptive limit should
  // hold it near its best with no request timed out by our own concurrency.
  yield* EmailSimAdmin.setConfig(baseUrl, { errorRate: 0, latencyMs: 10, latencyPerRequestMs: 20 })
  const slow = yield* pipeline(baseUrl, config.slowOccurrences, config.concurrency)
  yield* Console.log(JSON.stringify({
    suite: "delivery",
    run: "pipeline, provider slows under load (10 ms + 20 ms per request in flight; best 50/s)",
    ...slow
  }))
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

/** Runs the suite as a program. */
export const runDeliveryBench = (): void => NodeRuntime.runMain(deliveryBench)
