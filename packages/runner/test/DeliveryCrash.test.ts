import { EmailSimAdmin } from "@birthday/email-sim"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Scope } from "effect"
import {
  childProcess,
  eventually,
  infraLayer,
  publishAll,
  seedOccurrences,
  simulatorProcess,
  stateCounts,
  type TestRun,
  testRun,
  workersLayer
} from "./support/DeliveryHarness.js"

/**
 * A delivery-only worker process against `baseUrl`, in a scope of its own: closing the scope sends
 * SIGTERM and waits for the process to exit.
 */
const workerProcess = (run: TestRun, baseUrl: string, env: Record<string, string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const worker = yield* childProcess("packages/runner/test/fixtures/DeliveryWorkerProcess.ts", [], {
      ...run.env,
      EMAIL_SERVICE_URL: baseUrl,
      PROVIDER_RATE_LIMIT: "0",
      RUNNER_METRICS_PORT: "0",
      LOG_LEVEL: "Warning",
      ...env
    }).pipe(Scope.extend(scope))
    return { worker, stop: Scope.close(scope, { _tag: "Success", value: undefined } as never) }
  })

describe("worker crash", () => {
  it.live(
    "a worker killed with SIGKILL mid-batch loses nothing and doubles no acknowledged send",
    () =>
      Effect.gen(function*() {
        const run = yield* testRun
        const infra = yield* Layer.build(infraLayer(run))
        // Latency keeps requests in flight, so the kill lands between send and ledger write.
        const baseUrl = yield* simulatorProcess({ "latency-ms": 50, "latency-jitter-ms": 100 })
        yield* Effect.gen(function*() {
          const rows = yield* seedOccurrences(2_000)
          yield* publishAll(rows)
          const { stop, worker } = yield* workerProcess(run, baseUrl, { DELIVERY_ACK_WAIT: "3 seconds" })
          yield* eventually(EmailSimAdmin.stats(baseUrl), (stats) => stats.acknowledged >= 300, 60_000)
          worker.kill("SIGKILL")
          yield* stop
          const atKill = yield* stateCounts
          expect(atKill.sent ?? 0).toBeLessThan(2_000)

          // A second worker takes over: stale `sending` rows are reclaimed after the lease.
          yield* Layer.build(
            workersLayer(baseUrl, { ackWait: "3 seconds" as never }).pipe(Layer.provide(Layer.succeedContext(infra)))
          )
          yield* eventually(stateCounts, (c) => c.sent === 2_000, 120_000)
          const stats = yield* EmailSimAdmin.stats(baseUrl)
          expect(stats.acknowledged).toBe(2_000)
          expect(stats.distinctKeys).toBe(2_000)
        }).pipe(Effect.provide(infra))
      }).pipe(Effect.scoped),
    { timeout: 240_000 }
  )
})

describe("worker graceful stop", () => {
  it.live(
    "SIGTERM lets the sends in flight finish and records them: none is left sending or sent twice",
    () =>
      Effect.gen(function*() {
        const run = yield* testRun
        const infra = yield* Layer.build(infraLayer(run))
        // Every request takes 400 ms: at the stop, a full window of sends is in flight.
        const baseUrl = yield* simulatorProcess({ "latency-ms": 400 })
        yield* Effect.gen(function*() {
          const rows = yield* seedOccurrences(1_000)
          yield* publishAll(rows)
          const { stop } = yield* workerProcess(run, baseUrl, { DELIVERY_CONCURRENCY: "64" })
          yield* eventually(EmailSimAdmin.stats(baseUrl), (stats) => stats.received >= 150, 60_000)
          yield* stop

          // Every request the provider got was answered, recorded `sent` and acknowledged.
          const stopped = yield* EmailSimAdmin.stats(baseUrl)
          const atStop = yield* stateCounts
          expect(atStop.sending ?? 0).toBe(0)
          expect(atStop.sent).toBe(stopped.received)
          expect(stopped.received).toBeLessThan(1_000)

          // A new worker sends the rest at once (nothing waits out a lease), and no key twice.
          yield* Layer.build(workersLayer(baseUrl))
          yield* eventually(stateCounts, (counts) => counts.sent === 1_000, 60_000)
          const stats = yield* EmailSimAdmin.stats(baseUrl)
          expect(stats.received).toBe(1_000)
          expect(stats.distinctKeys).toBe(1_000)
          expect(stats.duplicatesRefused).toBe(0)
        }).pipe(Effect.provide(infra))
      }).pipe(Effect.scoped),
    { timeout: 240_000 }
  )

  it.live(
    "SIGTERM while the circuit is open stops at once, without waiting out the open period",
    () =>
      Effect.gen(function*() {
        const run = yield* testRun
        const infra = yield* Layer.build(infraLayer(run))
        const baseUrl = yield* simulatorProcess({ "error-rate": 1 })
        yield* Effect.gen(function*() {
          yield* publishAll(yield* seedOccurrences(200))
          const { stop } = yield* workerProcess(run, baseUrl, {
            BREAKER_CONSECUTIVE_FAILURES: "5",
            BREAKER_OPEN_BASE: "60 seconds",
            BREAKER_OPEN_MAX: "60 seconds",
            LOG_LEVEL: "Error"
          })
          const sql = yield* SqlClient.SqlClient
          yield* eventually(
            sql<{ state: string }>`SELECT state FROM provider_breakers`,
            (rows) => rows.some((row) => row.state === "open"),
            30_000
          )
          const started = Date.now()
          yield* stop
          // The open period is a minute; the stop took seconds at most (startup alone takes ~2).
          expect(Date.now() - started).toBeLessThan(20_000)
          expect((yield* stateCounts).sending ?? 0).toBe(0)
        }).pipe(Effect.provide(infra))
      }).pipe(Effect.scoped),
    { timeout: 240_000 }
  )
})
