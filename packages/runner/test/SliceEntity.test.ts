import { type DeliveryCommand, OccasionSettings, SliceEntity, sliceEntityId, sliceOf } from "@birthday/domain"
import { DeliveryLedger } from "@birthday/ledger/DeliveryLedger"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { Entity, MessageStorage, RunnerHealth, Runners, RunnerStorage, Sharding, ShardingConfig } from "@effect/cluster"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Array as Arr, Duration, Effect, Fiber, Layer, Option, type Scope, TestClock } from "effect"
import { randomUUID } from "node:crypto"
import { DeliveryPublisher } from "../src/DeliveryPublisher.js"
import { DueDispatcher } from "../src/DueDispatcher.js"
import { LocalSlices } from "../src/LocalSlices.js"
import { RunnerSettings } from "../src/RunnerConfig.js"
import { SliceLease } from "../src/SliceLease.js"
import { SliceLive } from "../src/SliceLive.js"
import { SliceOwnership } from "../src/SliceOwnership.js"
import { type SchedulerRun, schedulerRun, seedPending, sqlLayer } from "./support/SchedulerHarness.js"

// A fixed reference instant: nothing here depends on today's date.
const T0 = Date.UTC(2030, 0, 10, 0, 0, 0)
/** Tests other than the resync test keep it out of the way: every resync is 256 queries per clock step. */
const noResync = Duration.days(3650)
const hour = 3_600_000
const day = 24 * hour
const slices = 4

/**
 * The cluster's in-memory test runner (`TestRunner.layer`), with its polling loops slowed to a
 * day: under TestClock every loop wake-up costs real time, and these tests move months at once.
 */
const testRunnerLayer = Sharding.layer.pipe(
  Layer.provideMerge(Runners.layerNoop),
  Layer.provideMerge(MessageStorage.layerMemory),
  Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
  Layer.provide(ShardingConfig.layer({
    entityMessagePollInterval: Duration.days(1),
    entityReplyPollInterval: Duration.days(1),
    refreshAssignmentsInterval: Duration.days(1),
    shardLockRefreshInterval: Duration.days(1),
    shardLockExpiration: Duration.days(7),
    runnerHealthCheckInterval: Duration.days(1),
    entityMaxIdleTime: Duration.days(3650)
  }))
)

/** What a slice needs: real Postgres, an in-memory publisher, test settings. */
const sliceDependencies = (
  run: SchedulerRun,
  published: Array<DeliveryCommand>,
  settings: Partial<RunnerSettings["Type"]>
) =>
  DueDispatcher.layer.pipe(Layer.provideMerge(Layer.mergeAll(
    DeliveryPublisher.memory(published),
    SliceOwnership.Default,
    // The in-memory test runner keeps no heartbeat table: the lease is always held here.
    SliceLease.layerAlwaysHeld,
    DeliveryLedger.layer,
    OccurrenceLedger.DefaultWithoutDependencies,
    LocalSlices.layer,
    RunnerSettings.layerWith({ resyncInterval: noResync, ...settings })
  ))).pipe(
    Layer.provideMerge(OccasionSettings.layerWith()),
    Layer.provideMerge(sqlLayer(run)),
    Layer.provideMerge(ShardingConfig.layer())
  )

/**
 * Slices without the sharding machinery (`Entity.makeTestClient`): the same entity code, no
 * cluster polling loops, so TestClock can move a year in a few steps.
 */
const makeSliceClients = Effect.gen(function*() {
  const makeClient = yield* Entity.makeTestClient(SliceEntity, SliceLive)
  const clients = yield* Effect.forEach(Arr.range(0, slices - 1), (slice) => makeClient(sliceEntityId(slice)))
  yield* Effect.forEach(clients, (client) => client.Ping(), { discard: true })
  return clients
})

/** Slice entities on the cluster's in-memory test runner, real Postgres, an in-memory publisher. */
const sliceLayer = (run: SchedulerRun, published: Array<DeliveryCommand>, settings: Partial<RunnerSettings["Type"]>) =>
  SliceLive.pipe(
    Layer.provideMerge(testRunnerLayer),
    Layer.provideMerge(DueDispatcher.layer.pipe(Layer.provideMerge(Layer.mergeAll(
      DeliveryPublisher.memory(published),
      SliceOwnership.Default,
      SliceLease.layerAlwaysHeld,
      DeliveryLedger.layer,
      OccurrenceLedger.DefaultWithoutDependencies,
      LocalSlices.layer,
      RunnerSettings.layerWith({ resyncInterval: noResync, ...settings })
    )))),
    Layer.provideMerge(OccasionSettings.layerWith()),
    Layer.provideMerge(sqlLayer(run))
  )

/**
 * One test's world: its own database, an in-memory publisher, the clock just before `T0`, and
 * the slice layer built by `layer` around them.
 */
const inSliceWorld = <A, E, ROut, LE>(
  layer: (run: SchedulerRun, published: Array<DeliveryCommand>) => Layer.Layer<ROut, LE, never>,
  body: (published: Array<DeliveryCommand>, run: SchedulerRun) => Effect.Effect<A, E, ROut | Scope.Scope>
) =>
  Effect.gen(function*() {
    const run = yield* schedulerRun(slices)
    const published: Array<DeliveryCommand> = []
    yield* TestClock.setTime(T0 - 20_000)
    return yield* body(published, run).pipe(Effect.provide(layer(run, published)))
  })

/** Real-time pause, so Postgres round trips finish between TestClock steps. */
const settle = (ms = 40) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const eventually = <E, R>(label: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      if (yield* check) return
      yield* settle(25)
    }
    return yield* Effect.dieMessage(`never happened: ${label}`)
  })

/**
 * Starts every slice. The test runner opens its shards after a one-second sleep on the (test)
 * clock, so the clock is nudged in small steps until every ping has answered.
 */
const pingAll = Effect.gen(function*() {
  const client = yield* SliceEntity.client
  const pings = yield* Effect.fork(
    Effect.forEach(Arr.range(0, slices - 1), (slice) => client(sliceEntityId(slice)).Ping(), { discard: true })
  )
  for (let i = 0; i < 100 && pings.unsafePoll() === null; i++) {
    yield* TestClock.adjust("100 millis")
    yield* settle(20)
  }
  yield* Fiber.join(pings)
})

const stateOf = (key: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ state: string }>`SELECT state FROM occurrences WHERE key = ${key}`
    return rows[0]?.state
  })

/** A live user (UTC unless told) with its occurrences scheduled as the API would at `now`. */
const createUser = (birthday: string, timeZone = "UTC") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ledger = yield* OccurrenceLedger
    const id = randomUUID()
    const slice = sliceOf(id, slices)
    const now = yield* TestClock.currentTimeMillis
    yield* sql`
      INSERT INTO users (id, first_name, last_name, email, birthday, time_zone, slice, created_at, updated_at)
      VALUES (${id}, 'Test', 'User', ${`${id}@example.com`}, ${birthday}::date, ${timeZone}, ${slice}, now(), now())`
    yield* ledger.reconcileUser(id, slice, Option.some({ id, birthday, timeZone }), now)
    return { id, slice }
  })

const moveClockTo = (instant: number) =>
  Effect.gen(function*() {
    for (;;) {
      const now = yield* TestClock.currentTimeMillis
      if (instant <= now) break
      yield* TestClock.adjust(Duration.millis(Math.min(instant - now, 30 * day)))
      yield* settle(10)
    }
    yield* settle()
  })

describe("SliceEntity on the in-memory test runner with TestClock", () => {
  it.scoped(
    "due times fire in order at the right instants: queued SLICE_FIRE_AHEAD before due, never earlier",
    () =>
      inSliceWorld(
        (run, published) =>
          sliceLayer(run, published, {
            horizon: Duration.days(2),
            topUpInterval: Duration.days(1),
            fireAhead: Duration.seconds(5)
          }),
        (published, run) =>
          Effect.gen(function*() {
            // Minutes apart: the test runner's own polling loops make every simulated hour cost real time.
            const gap = 5 * 60_000
            const ahead = 5_000
            const keys = yield* seedPending(run, [T0 + 3 * gap, T0 + gap, T0 + 2 * gap])
            yield* pingAll
            yield* moveClockTo(T0 + gap - ahead - 1000)
            expect(published).toEqual([])
            yield* moveClockTo(T0 + gap - ahead)
            yield* eventually("first enqueued", Effect.map(stateOf(keys[1]!), (s) => s === "enqueued"))
            expect(published.map((c) => c.key)).toEqual([keys[1]])
            yield* moveClockTo(T0 + 2 * gap - ahead)
            yield* eventually("second enqueued", Effect.map(stateOf(keys[2]!), (s) => s === "enqueued"))
            expect(yield* stateOf(keys[0]!)).toBe("pending")
            yield* moveClockTo(T0 + 3 * gap - ahead)
            yield* eventually("third enqueued", Effect.map(stateOf(keys[0]!), (s) => s === "enqueued"))
            expect(published.map((c) => c.key)).toEqual([keys[1], keys[2], keys[0]])
            // The commands carry the due times, by which the workers send them.
            expect(published.map((c) => c.dueAt.epochMillis)).toEqual([T0 + gap, T0 + 2 * gap, T0 + 3 * gap])
          })
      ),
    60_000
  )

  it.scoped("a year passes: each user's occurrence fires once per year", () =>
    inSliceWorld(
      (run, published) =>
        sliceDependencies(run, published, {
          horizon: Duration.days(400),
          topUpInterval: Duration.days(30)
        }),
      (published) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const users = [
            yield* createUser("1990-01-20", "Europe/Berlin"),
            yield* createUser("1985-03-15", "America/New_York"),
            yield* createUser("2000-07-04", "Asia/Tokyo")
          ]
          yield* makeSliceClients
          const end = T0 + 2 * 365 * day
          // Step the clock from one due instant to the next, as Postgres says they come.
          for (let step = 0; step < 20; step++) {
            const [next] = yield* sql<{ due_ms: number }>`
            SELECT (extract(epoch FROM min(due_at)) * 1000)::float8 AS due_ms FROM occurrences WHERE state = 'pending'`
            if (next?.due_ms == null || next.due_ms > end) break
            yield* moveClockTo(next.due_ms)
            const due = next.due_ms
            yield* eventually(
              "due occurrence enqueued",
              Effect.map(
                sql<{ n: number }>`
                SELECT count(*)::int AS n FROM occurrences
                WHERE state = 'pending' AND due_at <= to_timestamp(${due} / 1000.0)`,
                (rows) => rows[0]!.n === 0
              )
            )
          }
          const keys = published.map((command) => command.key)
          expect(new Set(keys).size).toBe(keys.length)
          for (const user of users) {
            expect(keys.filter((key) => key.includes(user.id)).map((key) => key.split(":")[2])).toEqual([
              "2030",
              "2031"
            ])
          }
          const states = yield* sql<{ state: string; n: number }>`
          SELECT state, count(*)::int AS n FROM occurrences GROUP BY state ORDER BY state`
          expect(states).toEqual([{ state: "enqueued", n: 6 }, { state: "pending", n: 3 }])
        })
    ), 90_000)

  it.scoped("edits and deletes take effect immediately", () =>
    inSliceWorld(
      (run, published) =>
        sliceDependencies(run, published, {
          horizon: Duration.days(5),
          topUpInterval: Duration.days(1)
        }),
      (published) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const ledger = yield* OccurrenceLedger
          const edited = yield* createUser("1990-01-10") // due 2030-01-10T09:00Z
          const deleted = yield* createUser("1990-01-11") // due 2030-01-11T09:00Z
          const clients = yield* makeSliceClients

          // What the server does in the user's transaction, then what the change listener does.
          yield* sql`UPDATE users SET birthday = '1990-01-12' WHERE id = ${edited.id}`
          yield* ledger.reconcileUser(
            edited.id,
            edited.slice,
            Option.some({ id: edited.id, birthday: "1990-01-12", timeZone: "UTC" }),
            T0
          )
          yield* clients[edited.slice]!.Reload({ userIds: [edited.id] })
          yield* sql`UPDATE users SET deleted_at = now() WHERE id = ${deleted.id}`
          yield* ledger.cancelUser(deleted.id, T0)
          yield* clients[deleted.slice]!.Reload({ userIds: [deleted.id] })

          yield* moveClockTo(Date.UTC(2030, 0, 10, 9) + 1000)
          yield* moveClockTo(Date.UTC(2030, 0, 11, 9) + 1000)
          expect(published).toEqual([])
          yield* moveClockTo(Date.UTC(2030, 0, 12, 9))
          const key = `birthday:${edited.id}:2030`
          yield* eventually("edited occurrence enqueued", Effect.map(stateOf(key), (s) => s === "enqueued"))
          expect(published.map((c) => c.key)).toEqual([key])
          expect(yield* stateOf(`birthday:${deleted.id}:2030`)).toBe("cancelled")
        })
    ), 60_000)

  it.scoped("a change whose notice was lost takes effect at the next resync", () =>
    inSliceWorld(
      (run, published) =>
        sliceDependencies(run, published, {
          horizon: Duration.days(5),
          topUpInterval: Duration.days(1),
          resyncInterval: Duration.hours(1)
        }),
      (published) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const ledger = yield* OccurrenceLedger
          const user = yield* createUser("1990-01-12") // due 2030-01-12T09:00Z
          yield* makeSliceClients
          // The server's transaction moves it a day earlier, inside the loaded horizon; the notice
          // never reaches the slice.
          yield* sql`UPDATE users SET birthday = '1990-01-11' WHERE id = ${user.id}`
          yield* ledger.reconcileUser(
            user.id,
            user.slice,
            Option.some({ id: user.id, birthday: "1990-01-11", timeZone: "UTC" }),
            T0
          )
          yield* moveClockTo(Date.UTC(2030, 0, 11, 8))
          expect(published).toEqual([])
          yield* moveClockTo(Date.UTC(2030, 0, 11, 9))
          const key = `birthday:${user.id}:2030`
          yield* eventually("moved occurrence enqueued", Effect.map(stateOf(key), (s) => s === "enqueued"))
          expect(published.map((c) => [c.key, c.dueAt.epochMillis])).toEqual([[key, Date.UTC(2030, 0, 11, 9)]])
          yield* moveClockTo(Date.UTC(2030, 0, 12, 9) + 1000)
          expect(published.map((c) => c.key)).toEqual([key])
        })
    ), 60_000)
})
