import { EmailSimAdmin } from "@birthday/email-sim"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Metric } from "effect"
import { breakerStateGauge } from "../src/CircuitBreaker.js"
import { eventually, publishAll, seedOccurrences, stateCounts, withDelivery } from "./support/DeliveryHarness.js"

/** Provider requests in flight in the outage test. */
const concurrency = 8

describe("delivery under provider faults", () => {
  it.live(
    "10,000 occurrences at 30% errors and 10% hangs are each acknowledged exactly once",
    () =>
      withDelivery((baseUrl) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* seedOccurrences(10_000)
          yield* publishAll(rows)
          yield* eventually(stateCounts, (c) => c.sent === 10_000, 240_000)
          const stats = yield* EmailSimAdmin.stats(baseUrl)
          // The simulator stores the first 200 per key: distinct keys = stored messages = occurrences.
          expect(stats.acknowledged).toBe(10_000)
          expect(stats.distinctKeys).toBe(10_000)
          expect(stats.failed).toBeGreaterThan(2_000)
          expect(stats.hung).toBeGreaterThan(500)
          // A repeat of an acknowledged key can only follow an ambiguous attempt (answered after our timeout).
          const [{ ambiguous }] = yield* sql<{ ambiguous: string }>`
          SELECT count(*) AS ambiguous FROM delivery_attempts WHERE outcome = 'ambiguous'`
          expect(stats.duplicatesRefused).toBeLessThanOrEqual(Number(ambiguous))
          const [{ attempts }] = yield* sql<{ attempts: string }>`SELECT sum(attempts) AS attempts FROM occurrences`
          // Every recorded attempt reached the provider; a copy whose lease was taken over is not recorded.
          expect(Number(attempts)).toBeLessThanOrEqual(stats.received)
        }), {
        simulatorFlags: { "error-rate": 0.3, "timeout-rate": 0.1, "hang-ms": 0 },
        // This test is about exactly-once under faults; a 40% failure rate must not trip the breaker.
        settings: { maxAttempts: 40, breakerConsecutiveFailures: 200, breakerFailureRate: 0.9 }
      }),
    { timeout: 300_000 }
  )

  it.live(
    "an outage opens the breaker: no calls while open except probes, then each is delivered once",
    () =>
      withDelivery((baseUrl) =>
        Effect.gen(function*() {
          const gauge = Metric.tagged(breakerStateGauge, "provider", "outage-test")
          // Breaker state over time, sampled every 10 ms.
          const samples: Array<{ at: number; state: number }> = []
          const sampler = yield* Effect.fork(
            Effect.gen(function*() {
              const { value } = yield* Metric.value(gauge)
              samples.push({ at: Date.now(), state: value })
              yield* Effect.sleep("10 millis")
            }).pipe(Effect.forever)
          )
          const outageMs = 8_000
          yield* EmailSimAdmin.outage(baseUrl, outageMs)
          const outageStart = Date.now()
          const rows = yield* seedOccurrences(500)
          yield* publishAll(rows)
          // Operators see it without scraping /metrics: the runner records its breaker in Postgres.
          const sql = yield* SqlClient.SqlClient
          const recorded = sql<{ state: string; runner: string }>`
            SELECT state, runner FROM provider_breakers WHERE provider = 'outage-test'`
          yield* eventually(recorded, (rows) => rows[0]?.state === "open", 10_000)
          yield* eventually(stateCounts, (c) => c.sent === 500, 60_000)
          yield* eventually(recorded, (rows) => rows[0]?.state === "closed", 10_000)
          yield* Fiber.interrupt(sampler)

          // Open intervals (state 2). A request already past the breaker when it opened may land
          // just after; allow 250 ms for those.
          const open: Array<[number, number]> = []
          let start: number | undefined
          for (const sample of samples) {
            if (sample.state === 2 && start === undefined) start = sample.at
            if (sample.state !== 2 && start !== undefined) {
              open.push([start, sample.at])
              start = undefined
            }
          }
          expect(open.length).toBeGreaterThan(0)
          expect(open[0]![0]).toBeLessThan(outageStart + outageMs)
          const log = yield* EmailSimAdmin.allLog(baseUrl)
          // Inside an open interval (as sampled) the only calls that meet the outage are requests
          // admitted before it opened (at most `concurrency`, landing just after; under CPU load
          // "just after" can be hundreds of ms) and probes, one per open period (>= breakerOpenBase
          // apart). Calls that succeed belong to a closed state the sampler missed.
          for (const [from, to] of open) {
            const calls = log.filter((entry) => entry.outcome === "outage" && entry.at > from && entry.at < to - 20)
            expect(calls.filter((entry) => entry.at < from + 900).length).toBeLessThanOrEqual(concurrency)
            let previous = from
            for (const entry of calls.filter((entry) => entry.at >= from + 900)) {
              expect(entry.at - previous).toBeGreaterThanOrEqual(900)
              previous = entry.at
            }
          }
          const duringOutage = log.filter((entry) => entry.outcome === "outage")
          // Without the breaker every message would retry through the outage; with it, only the
          // failures that opened it, the in-flight requests at that moment and one probe per half-open.
          expect(duringOutage.length).toBeLessThan(300)

          const stats = yield* EmailSimAdmin.stats(baseUrl)
          expect(stats.acknowledged).toBe(500)
          expect(stats.distinctKeys).toBe(500)
          const [{ max }] = yield* sql<{ max: number }>`SELECT max(attempts) AS max FROM occurrences`
          // Waiting behind an open circuit uses no attempts.
          expect(max).toBeLessThanOrEqual(6)
        }), {
        settings: {
          providerName: "outage-test",
          // Few requests in flight, so those already past the breaker when it opens land at once.
          concurrency,
          breakerConsecutiveFailures: 5,
          breakerOpenBase: "1 second" as never,
          breakerOpenMax: "2 seconds" as never,
          retryBase: "200 millis" as never,
          maxAttempts: 20
        }
      }),
    { timeout: 120_000 }
  )
})
