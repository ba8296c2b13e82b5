/**
 * Waiting must not use up the broker's redeliveries or cause timeouts of our own making.
 * Invariants, each attacked with a real simulator, Postgres and NATS:
 * - a provider outage many times longer than `max_deliver × ack_wait` dead-letters nothing and
 *   marks nothing dead: every occurrence is sent once when the provider is back;
 * - a consumer deleted while delivering is created again, and everything is still sent once;
 * - a provider whose latency grows with the requests in flight gets no timeout from our own
 *   concurrency (no ambiguous attempt), where a fixed concurrency of 256 times out.
 */
import { natsNames } from "@birthday/domain"
import { EmailSimAdmin } from "@birthday/email-sim"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { consumersRecreated } from "../src/DurableConsumer.js"
import { Nats } from "../src/Nats.js"
import {
  eventually,
  publishAll,
  seedOccurrences,
  stateCounts,
  unexplainedRepeats,
  withDelivery
} from "./support/DeliveryHarness.js"

const ambiguousAttempts = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ n: number }>`SELECT count(*)::int AS n FROM delivery_attempts WHERE outcome = 'ambiguous'`.pipe(
      Effect.map(([row]) => row?.n ?? 0)
    )
)

const deadLetters = (prefix: string) =>
  Effect.flatMap(
    Nats,
    ({ manager }) =>
      Effect.promise(async () => (await manager.streams.info(natsNames(prefix).deadLetterStream)).state.messages)
  )

describe("delivery waits without using up redeliveries", () => {
  it.live(
    "an outage of 12 s against max_deliver 3 and ack_wait 2 s: nothing dead-lettered or dead, each sent once",
    () =>
      withDelivery((baseUrl, run) =>
        Effect.gen(function*() {
          yield* EmailSimAdmin.outage(baseUrl, 12_000)
          const rows = yield* seedOccurrences(300)
          yield* publishAll(rows)
          yield* eventually(stateCounts, (c) => c.sent === 300, 90_000)
          const stats = yield* EmailSimAdmin.stats(baseUrl)
          expect(stats.acknowledged).toBe(300)
          expect(stats.duplicatesRefused).toBe(0)
          // The probes were refused; the rest waited (the ledger counts no attempt for them).
          expect(stats.outageRejected).toBeGreaterThan(0)
          expect(stats.outageRejected).toBeLessThan(100)
          expect(yield* deadLetters(run.streamPrefix)).toBe(0)
          const counts = yield* stateCounts
          expect(counts.dead ?? 0).toBe(0)
        }), {
        settings: {
          maxDeliver: 3,
          ackWait: "2 seconds" as never,
          breakerConsecutiveFailures: 3,
          breakerOpenBase: "500 millis" as never,
          breakerOpenMax: "1 second" as never
        }
      }),
    { timeout: 120_000 }
  )

  it.live(
    "a consumer deleted while delivering is created again and everything is sent once",
    () =>
      withDelivery((baseUrl, run) =>
        Effect.gen(function*() {
          const { manager } = yield* Nats
          const names = natsNames(run.streamPrefix)
          const recreated = Metric.tagged(consumersRecreated, "consumer", names.deliveryConsumer)
          const before = (yield* Metric.value(recreated)).count
          const first = yield* seedOccurrences(200)
          yield* publishAll(first)
          yield* eventually(stateCounts, (c) => (c.sent ?? 0) >= 50, 30_000)
          yield* Effect.promise(() => manager.consumers.delete(names.deliveryStream, names.deliveryConsumer))
          const second = yield* seedOccurrences(200)
          yield* publishAll(second)
          yield* eventually(stateCounts, (c) => c.sent === 400, 120_000)
          const stats = yield* EmailSimAdmin.stats(baseUrl)
          expect(stats.acknowledged).toBe(400)
          // Every key acknowledged once; a repeated request only as the retry of an ambiguous one.
          expect(yield* unexplainedRepeats(baseUrl)).toEqual([])
          expect((yield* Metric.value(recreated)).count).toBeGreaterThan(before)
          const info = yield* Effect.promise(() => manager.consumers.info(names.deliveryStream, names.deliveryConsumer))
          expect(info.config.durable_name).toBe(names.deliveryConsumer)
        }), { faults: { faults: { latencyMs: 20 } } }),
    { timeout: 240_000 }
  )
})

describe("delivery against a provider that slows under load", () => {
  // 30 ms more per request in flight: 256 at once would take 7.7 s, past the 2 s request timeout.
  const slowUnderLoad = { "latency-ms": 10, "latency-per-request-ms": 30 }

  it.live(
    "the adaptive limit keeps our own concurrency from timing requests out: no ambiguous attempt",
    () =>
      withDelivery((baseUrl) =>
        Effect.gen(function*() {
          const rows = yield* seedOccurrences(600)
          yield* publishAll(rows)
          yield* eventually(stateCounts, (c) => c.sent === 600, 120_000)
          const stats = yield* EmailSimAdmin.stats(baseUrl)
          expect(stats.acknowledged).toBe(600)
          expect(stats.duplicatesRefused).toBe(0)
          expect(yield* ambiguousAttempts).toBe(0)
        }), { simulatorFlags: slowUnderLoad, settings: { concurrency: 256 } }),
    { timeout: 180_000 }
  )

  it.live(
    "control: a fixed concurrency of 256 against the same provider times out (ambiguous attempts)",
    () =>
      withDelivery(() =>
        Effect.gen(function*() {
          const rows = yield* seedOccurrences(600)
          yield* publishAll(rows)
          yield* eventually(ambiguousAttempts, (n) => n > 0, 60_000)
          expect(yield* ambiguousAttempts).toBeGreaterThan(0)
        }), {
        simulatorFlags: slowUnderLoad,
        settings: { concurrency: 256, adaptiveConcurrency: false, maxAttempts: 40 }
      }),
    { timeout: 120_000 }
  )
})

describe("delivery against a provider rate limit below the due rate", () => {
  it.live(
    "429s slow the whole client and use no attempt: each sent once, with one attempt, none dead",
    () =>
      withDelivery((baseUrl) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* seedOccurrences(800)
          const started = Date.now()
          yield* publishAll(rows)
          yield* eventually(stateCounts, (c) => c.sent === 800, 120_000)
          const seconds = (Date.now() - started) / 1000
          const stats = yield* EmailSimAdmin.stats(baseUrl)
          console.log(`800 against 150/s: ${seconds.toFixed(1)} s, ${stats.rateLimited} answered 429`)
          expect(stats.acknowledged).toBe(800)
          expect(stats.duplicatesRefused).toBe(0)
          expect(stats.rateLimited).toBeGreaterThan(0)
          // The client slowed down instead of hammering: far fewer 429s than sends.
          expect(stats.rateLimited).toBeLessThan(800)
          const [attempts] = yield* sql<{ most: number; total: number }>`
            SELECT max(attempts)::int AS most, sum(attempts)::int AS total FROM occurrences`
          expect(attempts).toEqual({ most: 1, total: 800 })
        }), {
        // The provider's limit is unknown to the runner (PROVIDER_RATE_LIMIT=0): it learns from the 429s.
        simulatorFlags: { "rate-limit-per-second": 150, "retry-after-seconds": 1 },
        settings: { providerRateLimit: 0 }
      }),
    { timeout: 180_000 }
  )
})
