import { deliveryCommandOfRow, natsNames } from "@birthday/domain"
import { EmailSimAdmin } from "@birthday/email-sim"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { connect } from "nats"
import { commandPayload } from "../src/TraceHeaders.js"
import { simulatorProcess } from "./support/DeliveryHarness.js"
import {
  ownership,
  type RunnerProcess,
  schedulerRun,
  seedPending,
  sqlLayer,
  startRunner,
  startRunners,
  stateCounts,
  streamMessages,
  waitUntil
} from "./support/SchedulerHarness.js"

const hour = 3_600_000
const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0)

/** How many of `keys` are in each state. */
const stateCountsOf = (keys: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ state: string; n: number }>`
      SELECT state, count(*)::int AS n FROM occurrences WHERE key = ANY(${keys}::text[]) GROUP BY state`
    return Object.fromEntries(rows.map((row) => [row.state, row.n])) as Record<string, number>
  })
const sendingCount = (keys: ReadonlyArray<string>) => Effect.map(stateCountsOf(keys), (c) => c.sending ?? 0)

/** Every key exactly once in the stream, and nothing else. */
const expectExactlyOnce = (messages: ReadonlyArray<{ msgId: string }>, keys: ReadonlyArray<string>) => {
  const seen = new Map<string, number>()
  for (const message of messages) seen.set(message.msgId, (seen.get(message.msgId) ?? 0) + 1)
  expect([...seen.values()].filter((n) => n > 1)).toEqual([])
  expect(messages.length).toBe(keys.length)
  expect(keys.filter((key) => !seen.has(key))).toEqual([])
}

const dumpOnFailure = (runners: ReadonlyArray<RunnerProcess>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.tapErrorCause(effect, () =>
    Effect.sync(() => {
      for (const runner of runners) console.error(`--- runner ${runner.address}\n${runner.output().slice(-4000)}`)
    }))

describe("scheduler runners as separate processes (real Postgres and NATS)", () => {
  it.scopedLive(
    "(a) 10,000 due in a short window, two runners, one SIGKILLed mid-window: each key once",
    () =>
      Effect.gen(function*() {
        const run = yield* schedulerRun(64)
        const start = Date.now() + 20_000
        const window = 20_000
        const keys = yield* seedPending(
          run,
          Array.from({ length: 10_000 }, (_, i) => start + Math.floor((i * window) / 10_000))
        ).pipe(Effect.provide(sqlLayer(run)))
        const [r1, r2] = yield* startRunners(run, 2)
        yield* Effect.gen(function*() {
          yield* sleep(Math.max(0, start + window / 2 - Date.now()))
          const before = yield* stateCounts
          expect(before.enqueued ?? 0).toBeGreaterThan(0)
          expect(before.pending ?? 0).toBeGreaterThan(0)
          yield* r2.kill("SIGKILL")
          yield* waitUntil(
            "all 10,000 enqueued",
            Effect.map(stateCounts, (c) => (c.enqueued ?? 0) === 10_000),
            window + 60_000
          )
          // Next year's occurrence of each user is pending.
          expect(yield* stateCounts).toEqual({ enqueued: 10_000, pending: 10_000 })
          expectExactlyOnce(yield* streamMessages(run, keys.length), keys)
        }).pipe(Effect.provide(sqlLayer(run)), dumpOnFailure([r1, r2]))
      }),
    150_000
  )

  it.scopedLive(
    "(b) all runners down while 1,000 fall due: caught up in due order, too-late ones expired",
    () =>
      Effect.gen(function*() {
        const run = yield* schedulerRun(16)
        const first = yield* startRunner(run)
        yield* Effect.gen(function*() {
          yield* waitUntil("runner holds all slices", Effect.map(ownership, (o) => o[first.address] === 16), 30_000)
          yield* first.kill("SIGTERM")
          // While nothing runs: 800 fell due within the 48 h late window, 200 before it.
          const now = Date.now()
          const late = Array.from({ length: 800 }, (_, i) => now - 1_000 - Math.floor((i * 46 * hour) / 800))
          const tooLate = Array.from({ length: 200 }, (_, i) => now - 49 * hour - i * 60_000)
          const lateKeys = yield* seedPending(run, late)
          yield* seedPending(run, tooLate)
          const second = yield* startRunner(run)
          yield* Effect.gen(function*() {
            yield* waitUntil(
              "caught up",
              Effect.map(stateCounts, (c) => (c.enqueued ?? 0) === 800 && (c.expired ?? 0) === 200),
              40_000
            )
            yield* waitUntil("next years scheduled", Effect.map(stateCounts, (c) => total(c) === 2000), 10_000)
            expect(yield* stateCounts).toEqual({ enqueued: 800, expired: 200, pending: 1000 })
            const messages = yield* streamMessages(run, lateKeys.length)
            expectExactlyOnce(messages, lateKeys)
            // Oldest first: within each slice, stream order is due order.
            const lastDue = new Map<number, number>()
            for (const message of messages) {
              expect(message.dueAt).toBeGreaterThanOrEqual(lastDue.get(message.slice) ?? 0)
              lastDue.set(message.slice, message.dueAt)
            }
          }).pipe(dumpOnFailure([second]))
        }).pipe(Effect.provide(sqlLayer(run)), dumpOnFailure([first]))
      }),
    120_000
  )

  it.scopedLive(
    "(c) a third runner joins mid-window: slices rebalance and nothing fires twice",
    () =>
      Effect.gen(function*() {
        const run = yield* schedulerRun(64)
        const start = Date.now() + 15_000
        const window = 25_000
        const keys = yield* seedPending(
          run,
          Array.from({ length: 3_000 }, (_, i) => start + Math.floor((i * window) / 3_000))
        ).pipe(Effect.provide(sqlLayer(run)))
        // This test is about rebalancing, not fail-over: a longer lock keeps a busy CI box from
        // dropping shards while three runners boot on two cores.
        const env = { SHARD_LOCK_EXPIRATION: "15 seconds" }
        const [r1, r2] = yield* startRunners(run, 2, env)
        yield* Effect.gen(function*() {
          yield* sleep(Math.max(0, start + 3_000 - Date.now()))
          const r3 = yield* startRunner(run, env)
          yield* waitUntil(
            "the third runner holds slices",
            Effect.map(ownership, (o) => (o[r3.address] ?? 0) > 0 && Object.keys(o).length === 3),
            30_000
          ).pipe(dumpOnFailure([r3]))
          yield* waitUntil(
            "all 3,000 enqueued",
            Effect.map(stateCounts, (c) => (c.enqueued ?? 0) === 3_000),
            window + 30_000
          )
          expectExactlyOnce(yield* streamMessages(run, keys.length), keys)
          // Every slice is held again once the moved ones restart on their new owners.
          yield* waitUntil(
            "all 64 slices held by 3 runners",
            Effect.map(ownership, (o) => Object.keys(o).length === 3 && total(o) === 64),
            30_000
          )
        }).pipe(Effect.provide(sqlLayer(run)), dumpOnFailure([r1, r2]))
      }),
    150_000
  )

  it.scopedLive(
    "(d) a round recorded but not published before its runner died: the next holder publishes each command once",
    () =>
      Effect.gen(function*() {
        const run = yield* schedulerRun(16)
        const first = yield* startRunner(run)
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* waitUntil("runner holds all slices", Effect.map(ownership, (o) => o[first.address] === 16), 30_000)
          yield* first.kill("SIGKILL")
          // What the dead runner left: 1,000 rows recorded `enqueued` (due a minute ago), of which
          // it published only the first 400 (message id = key, as the dispatcher publishes).
          const keys = yield* seedPending(run, Array.from({ length: 1_000 }, (_, i) => Date.now() - 60_000 + i))
          yield* sql`UPDATE occurrences SET state = 'enqueued', version = 1, updated_at = now()`
          const rows = yield* sql<
            {
              key: string
              kind: "birthday"
              user_id: string
              year: number
              due_at: Date
              deadline_at: Date
              version: number
            }
          >`SELECT key, kind, user_id::text AS user_id, year, due_at, deadline_at, version FROM occurrences ORDER BY key`
          const published = rows.slice(0, 400)
          yield* Effect.promise(async () => {
            const nc = await connect({ servers: "nats://127.0.0.1:4222" })
            const js = nc.jetstream()
            const subject = natsNames(run.streamPrefix).deliverySubject("birthday")
            for (const row of published) {
              await js.publish(subject, commandPayload(deliveryCommandOfRow(row)), { msgID: row.key })
            }
            await nc.close()
          })
          const second = yield* startRunner(run)
          yield* Effect.gen(function*() {
            // Each key once, under its own message id: the broker dropped the 400 published copies,
            // and none came from the sweeper (whose copies carry a different id, minutes later).
            expectExactlyOnce(yield* streamMessages(run, keys.length), keys)
            expect(yield* stateCounts).toEqual({ enqueued: 1_000 })
          }).pipe(dumpOnFailure([second]))
        }).pipe(Effect.provide(sqlLayer(run)), dumpOnFailure([first]))
      }),
    120_000
  )

  it.scopedLive(
    "(e) a graceful stop hands its slices over while it finishes its sends; they start on the other runner without the keeper",
    () =>
      Effect.gen(function*() {
        const run = yield* schedulerRun(32)
        // Only the second runner sends, and every send takes 4 s: stopping, it has sends to
        // finish. The keeper pings only at its start, so a moved slice starts only if its new
        // holder starts it itself.
        const baseUrl = yield* simulatorProcess({ "latency-ms": 4_000 })
        // Loaded by the slices as they start: the first batch falls due once both runners run,
        // the second after the stop.
        const due = Date.now() + 45_000
        const first = yield* seedPending(run, Array.from({ length: 100 }, () => due)).pipe(
          Effect.provide(sqlLayer(run))
        )
        const second = yield* seedPending(run, Array.from({ length: 100 }, () => due + 20_000)).pipe(
          Effect.provide(sqlLayer(run))
        )
        const env = { SLICE_KEEPER_INTERVAL: "1 hour", SHARD_LOCK_EXPIRATION: "15 seconds" }
        const [r1] = yield* startRunners(run, 1, env)
        const r2 = yield* startRunner(run, {
          ...env,
          DELIVERY_WORKERS: "true",
          EMAIL_SERVICE_URL: baseUrl,
          EMAIL_REQUEST_TIMEOUT: "30 seconds",
          DELIVERY_ACK_WAIT: "30 seconds"
        })
        yield* Effect.gen(function*() {
          yield* waitUntil(
            "both runners hold all 32 slices",
            Effect.map(ownership, (o) => total(o) === 32 && Object.keys(o).length === 2),
            60_000
          )
          yield* waitUntil("sends in flight", Effect.map(sendingCount(first), (n) => n > 0), 90_000)
          const stopped = yield* Effect.fork(r2.kill("SIGTERM"))
          // The first runner holds every slice while the second is still finishing its sends.
          yield* waitUntil(
            "the first runner holds all 32 slices",
            Effect.map(ownership, (o) => o[r1!.address] === 32),
            30_000
          )
          expect(r2.child.exitCode === null && r2.child.signalCode === null).toBe(true)
          yield* Fiber.join(stopped)
          // What it had claimed, it sent, once; the rest waits in the stream for a worker.
          const stats = yield* EmailSimAdmin.stats(baseUrl).pipe(Effect.orDie)
          expect(stats.duplicatesRefused).toBe(0)
          expect(stats.acknowledged).toBeGreaterThan(0)
          const firstStates = yield* stateCountsOf(first)
          expect(firstStates.sent).toBe(stats.acknowledged)
          expect((firstStates.sent ?? 0) + (firstStates.enqueued ?? 0)).toBe(100)
          // The second batch fires from the moved slices too (no worker runs now to send it).
          yield* waitUntil("all 100 enqueued", Effect.map(stateCountsOf(second), (c) => c.enqueued === 100), 90_000)
        }).pipe(Effect.provide(sqlLayer(run)), dumpOnFailure([r1!, r2]))
      }),
    180_000
  )
  it.scopedLive(
    "(f) a runner paused with its host up (SIGSTOP: the kernel still answers): the other takes its slices and fires them, and nothing fires twice once it resumes",
    () =>
      Effect.gen(function*() {
        const run = yield* schedulerRun(16)
        // Due while the second runner is paused, spread over every slice (loaded as the slices start).
        const due = Date.now() + 45_000
        const keys = yield* seedPending(run, Array.from({ length: 200 }, (_, i) => due + i * 20)).pipe(
          Effect.provide(sqlLayer(run))
        )
        const [r1, r2] = yield* startRunners(run, 2)
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* waitUntil(
            "both runners hold all 16 slices",
            Effect.map(ownership, (o) => total(o) === 16 && Object.keys(o).length === 2),
            40_000
          )
          r2!.child.kill("SIGSTOP")
          const paused = Date.now()
          expect(paused).toBeLessThan(due)
          expect(yield* stateCountsOf(keys)).toEqual({ pending: 200 })
          yield* waitUntil(
            "the first runner holds all 16 slices",
            Effect.map(ownership, (o) => o[r1!.address] === 16),
            45_000
          )
          console.log(`[cluster] paused runner: its slices held by the other ${Date.now() - paused} ms after SIGSTOP`)
          // The paused runner's sessions are gone, and its advisory locks with them.
          const [held] = yield* sql<{ n: number }>`
            SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND a.application_name = ${`birthday-runner ${r2!.address}`}`
          expect(held!.n).toBe(0)
          yield* waitUntil("all 200 enqueued", Effect.map(stateCountsOf(keys), (c) => c.enqueued === 200), 60_000)
          r2!.child.kill("SIGCONT")
          // Resumed, it finds its lease gone: it fires nothing the other already fired.
          yield* sleep(10_000)
          expectExactlyOnce(yield* streamMessages(run, keys.length), keys)
          expect(yield* stateCountsOf(keys)).toEqual({ enqueued: 200 })
        }).pipe(
          Effect.ensuring(Effect.sync(() => r2!.child.kill("SIGCONT"))),
          Effect.provide(sqlLayer(run)),
          dumpOnFailure([r1!, r2!])
        )
      }),
    180_000
  )
})
