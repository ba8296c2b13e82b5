/**
 * The scheduling side of the ledger against real Postgres: the yearly chain survives every
 * interleaving the delivery side and the edits can produce. Each test names the defect of
 * issue 11 it pins; each failed on the code before the ledger became one state machine.
 */
import { tzdataVersion } from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import pg from "pg"
import { DeliveryLedger } from "../src/DeliveryLedger.js"
import { OccurrenceLedger } from "../src/OccurrenceLedger.js"
import { insertUser, ledgerDatabase, ledgerLayer, openRowsOf, rowsOf, type TestUser } from "./support/LedgerDatabase.js"

const at = (iso: string) => Date.parse(iso)
const Y = 2030

/** Runs `body` against a fresh migrated database. */
const inLedger = <A, E>(
  body: (url: string) => Effect.Effect<A, E, OccurrenceLedger | DeliveryLedger | SqlClient.SqlClient>
) =>
  Effect.gen(function*() {
    const { url } = yield* ledgerDatabase
    return yield* body(url).pipe(Effect.provide(ledgerLayer(url)))
  }).pipe(Effect.scoped)

/** What a create does: the user row, then its first occurrences. */
const create = (fields: Partial<Omit<TestUser, "id" | "slice">>, now: number) =>
  Effect.gen(function*() {
    const ledger = yield* OccurrenceLedger
    const user = yield* insertUser(fields, now)
    yield* ledger.storePending(ledger.firstOccurrences([{ subject: user, slice: user.slice }], now), now)
    return user
  })

/** What an edit does: the user row locked and written, its occurrences reconciled, in one transaction. */
const edit = (user: TestUser, fields: Partial<Omit<TestUser, "id" | "slice">>, now: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ledger = yield* OccurrenceLedger
    const next = { ...user, ...fields }
    yield* sql`SELECT id FROM users WHERE id = ${user.id} FOR UPDATE`
    yield* sql`UPDATE users SET birthday = ${next.birthday}::date, anniversary = ${next.anniversary}::date,
      time_zone = ${next.timeZone} WHERE id = ${user.id}`
    yield* ledger.reconcileUser(user.id, user.slice, Option.some(next), now)
    return next
  }).pipe(Effect.flatMap((next) => Effect.succeed(next)), (effect) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(effect)))

/** The test's runner holds slice 0 at epoch 1. */
const holdSlice = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`INSERT INTO slice_ownership (slice, runner, since, resident, updated_at, epoch)
      VALUES (0, 'test', now(), 0, now(), 1) ON CONFLICT (slice) DO NOTHING`
)

/** A slice round at `epoch`: due keys move to `enqueued` and get their successors. */
const enqueueRound = (keys: ReadonlyArray<string>, now: number, epoch = 1) =>
  Effect.zipRight(
    holdSlice,
    Effect.flatMap(OccurrenceLedger, (ledger) => ledger.settle(keys.map((key) => ({ key, epoch })), now))
  )

/** A birthday due on 10 March, enqueued and claimed, whose holder then went silent past its lease. */
const claimedThenSilent = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const delivery = yield* DeliveryLedger
  const user = yield* create({ birthday: "1990-03-10" }, at(`${Y}-03-01T00:00:00Z`))
  const key = `birthday:${user.id}:${Y}`
  const due = at(`${Y}-03-10T09:00:01Z`)
  yield* enqueueRound([key], due)
  const first = yield* delivery.claim([{ key }], new Date(due), 30_000)
  expect(first.claimed).toHaveLength(1)
  yield* sql`UPDATE occurrences SET lease_until = now() - interval '1 second' WHERE key = ${key}`
  return { user, key, due, first: first.claimed[0]! }
})

describe("OccurrenceLedger: the yearly chain", () => {
  it.live("defect 1: a delivery claim racing the slice round cannot cost next year's occurrence", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const delivery = yield* DeliveryLedger
        const user = yield* create({ birthday: "1990-03-10" }, at(`${Y}-03-01T00:00:00Z`))
        const key = `birthday:${user.id}:${Y}`
        const due = at(`${Y}-03-10T09:00:01Z`)
        // A worker holding a command for the key tries to claim it while the row is still pending.
        const claim = yield* delivery.claim([{ key }], new Date(due), 30_000)
        expect(claim.claimed).toEqual([])
        yield* enqueueRound([key], due)
        const rows = yield* rowsOf(user.id)
        expect(rows.map((row) => [row.year, row.state])).toEqual([[Y, "enqueued"], [Y + 1, "pending"]])
      })
    ))

  it.live("defect 3: a slice round waits for an edit holding the user and schedules next year from the edit", () =>
    inLedger((url) =>
      Effect.gen(function*() {
        const user = yield* create({ birthday: "1990-03-10" }, at(`${Y}-03-01T00:00:00Z`))
        const key = `birthday:${user.id}:${Y}`
        const due = at(`${Y}-03-10T09:00:01Z`)
        // The edit's transaction holds the user row (and has changed the zone) but has not committed.
        const client = new pg.Client({ connectionString: url })
        yield* Effect.promise(() => client.connect())
        yield* Effect.promise(() => client.query("BEGIN"))
        yield* Effect.promise(() => client.query("SELECT id FROM users WHERE id = $1 FOR UPDATE", [user.id]))
        yield* Effect.promise(() => client.query("UPDATE users SET time_zone = 'Asia/Tokyo' WHERE id = $1", [user.id]))
        const round = yield* Effect.fork(enqueueRound([key], due))
        yield* Effect.sleep("500 millis")
        yield* Effect.promise(() => client.query("COMMIT").finally(() => client.end()))
        yield* Fiber.join(round)
        const next = (yield* rowsOf(user.id)).find((row) => row.year === Y + 1)
        // 09:00 in Tokyo is 00:00 UTC.
        expect(next?.due).toBe(`${Y + 1}-03-10T00:00`)
      })
    ))

  it.live("defect 4: moving a birthday later this year schedules this year's, not next year's", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const now = at(`${Y}-12-01T00:00:00Z`)
        const user = yield* create({ birthday: "1990-03-10" }, now)
        expect((yield* openRowsOf(user.id)).map((row) => row.year)).toEqual([Y + 1])
        yield* edit(user, { birthday: "1990-12-20" }, now + 60_000)
        const open = yield* openRowsOf(user.id)
        expect(open.map((row) => [row.year, row.due])).toEqual([[Y, `${Y}-12-20T09:00`]])
        // When this year's goes out, next year's (cancelled by the move, never attempted) comes back.
        yield* enqueueRound([`birthday:${user.id}:${Y}`], at(`${Y}-12-20T09:00:00Z`))
        expect((yield* openRowsOf(user.id)).map((row) => [row.year, row.state, row.due])).toEqual([
          [Y, "enqueued", `${Y}-12-20T09:00`],
          [Y + 1, "pending", `${Y + 1}-12-20T09:00`]
        ])
      })
    ))

  it.live("defect 5: an anniversary removed and re-added after this year's was sent is scheduled for next year", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const user = yield* create({ anniversary: "2015-03-10" }, at(`${Y}-03-01T00:00:00Z`))
        const key = `anniversary:${user.id}:${Y}`
        yield* enqueueRound([key], at(`${Y}-03-10T09:00:01Z`))
        yield* sql`UPDATE occurrences SET state = 'sent', attempts = 1 WHERE key = ${key}`
        const removed = yield* edit(user, { anniversary: null }, at(`${Y}-06-01T00:00:00Z`))
        expect((yield* openRowsOf(user.id)).filter((row) => row.kind === "anniversary")).toEqual([])
        yield* edit(removed, { anniversary: "2015-09-15" }, at(`${Y}-06-02T00:00:00Z`))
        const open = (yield* openRowsOf(user.id)).filter((row) => row.kind === "anniversary")
        expect(open.map((row) => [row.year, row.state, row.due])).toEqual([[Y + 1, "pending", `${Y + 1}-09-15T09:00`]])
      })
    ))

  it.live("defect 5: a retrying anniversary cancelled and re-added is not sent again this year", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const user = yield* create({ anniversary: "2015-03-10" }, at(`${Y}-03-01T00:00:00Z`))
        const key = `anniversary:${user.id}:${Y}`
        yield* enqueueRound([key], at(`${Y}-03-10T09:00:01Z`))
        // One attempt failed (it may have reached the provider): the row waits for its retry.
        yield* sql`UPDATE occurrences SET state = 'retrying', attempts = 1 WHERE key = ${key}`
        const removed = yield* edit(user, { anniversary: null }, at(`${Y}-03-10T09:05:00Z`))
        yield* edit(removed, { anniversary: "2015-06-20" }, at(`${Y}-03-10T09:06:00Z`))
        const rows = (yield* rowsOf(user.id)).filter((row) => row.kind === "anniversary")
        expect(rows.find((row) => row.year === Y)?.state).toBe("cancelled")
        const open = rows.filter((row) => row.state === "pending")
        expect(open.map((row) => [row.year, row.due])).toEqual([[Y + 1, `${Y + 1}-06-20T09:00`]])
      })
    ))

  it.live("defect 7: a command claimed after its deadline is expired, never sent", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const delivery = yield* DeliveryLedger
        const user = yield* create({ birthday: "1990-03-10" }, at(`${Y}-03-01T00:00:00Z`))
        const key = `birthday:${user.id}:${Y}`
        yield* enqueueRound([key], at(`${Y}-03-10T09:00:01Z`))
        // The command sat in the stream for three days (the late window is 48 h).
        const late = at(`${Y}-03-13T09:00:00Z`)
        const claim = yield* delivery.claim([{ key }], new Date(late), 30_000)
        expect(claim.claimed).toEqual([])
        expect((yield* rowsOf(user.id)).map((row) => [row.year, row.state])).toEqual([
          [Y, "expired"],
          [Y + 1, "pending"]
        ])
      })
    ))

  it.live("a send whose holder went silent past its lease and its deadline is ambiguous (possibly delivered), not dead", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const delivery = yield* DeliveryLedger
        // Its holder made the request, then stalled (paused, cut off) past the lease and the deadline.
        const { key, user } = yield* claimedThenSilent
        const claim = yield* delivery.claim([{ key }], new Date(at(`${Y}-03-13T09:00:00Z`)), 30_000)
        expect([claim.claimed, claim.late]).toEqual([[], [key]])
        const [row] = yield* sql<{ state: string; last_error: string }>`
          SELECT state, last_error FROM occurrences WHERE key = ${key}`
        expect(row?.state).toBe("ambiguous")
        expect(row?.last_error).toMatch(/send in flight.*possibly delivered/)
        const history = yield* sql<{ outcome: string }>`SELECT outcome FROM delivery_attempts WHERE key = ${key}`
        expect(history.map((h) => h.outcome)).toEqual(["deadline"])
        // The chain goes on: next year's is pending.
        expect((yield* rowsOf(user.id)).map((r) => [r.year, r.state])).toEqual([[Y, "ambiguous"], [Y + 1, "pending"]])
      })
    ))

  it.live("a deleted user's send whose holder went silent past its lease is ambiguous (possibly delivered), not cancelled", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const delivery = yield* DeliveryLedger
        const { due, key, user } = yield* claimedThenSilent
        yield* sql`UPDATE users SET deleted_at = now() WHERE id = ${user.id}`
        const claim = yield* delivery.claim([{ key }], new Date(due + 60_000), 30_000)
        expect([claim.claimed, claim.cancelled]).toEqual([[], [key]])
        const [row] = yield* sql<{ state: string; last_error: string }>`
          SELECT state, last_error FROM occurrences WHERE key = ${key}`
        expect(row?.state).toBe("ambiguous")
        expect(row?.last_error).toMatch(/send in flight.*user was deleted.*possibly delivered/)
      })
    ))

  it.live("defect 6: a superseded claim cannot overwrite the new holder's outcome", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const delivery = yield* DeliveryLedger
        // The first holder stalls past its lease; a second worker reclaims the row.
        const { due, first, key, user } = yield* claimedThenSilent
        const second = yield* delivery.claim([{ key }], new Date(due + 60_000), 30_000)
        expect(second.claimed).toHaveLength(1)
        expect(second.claimed[0]!.leaseToken).not.toBe(first.leaseToken)
        const outcome = (state: "sent" | "dead", leaseToken: string) => ({
          key,
          leaseToken,
          state,
          attempted: true,
          outcome: state === "sent" ? "sent" : "permanent",
          status: state === "sent" ? 200 : 400,
          error: null,
          startedAt: new Date(due),
          finishedAt: new Date(due + 1000)
        })
        // The stale holder's late write is refused; the current holder's lands.
        const stale = yield* delivery.record(
          [outcome("dead", first.leaseToken)],
          new Date(due + 61_000),
          "old"
        )
        const current = yield* delivery.record(
          [outcome("sent", second.claimed[0]!.leaseToken)],
          new Date(due + 62_000),
          "new"
        )
        expect([stale.size, current.size]).toEqual([0, 1])
        expect((yield* rowsOf(user.id))[0]?.state).toBe("sent")
      })
    ))

  it.live("defect 6: a slice round of a fenced-off owner changes nothing", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const ledger = yield* OccurrenceLedger
        const user = yield* create({ birthday: "1990-03-10" }, at(`${Y}-03-01T00:00:00Z`))
        const key = `birthday:${user.id}:${Y}`
        yield* holdSlice
        // Another runner claimed the slice since (epoch 2); the old owner's timer still fires.
        yield* sql`UPDATE slice_ownership SET epoch = 2, runner = 'other' WHERE slice = 0`
        const stale = yield* ledger.settle([{ key, epoch: 1 }], at(`${Y}-03-10T09:00:01Z`))
        expect(stale.settled).toEqual([])
        expect((yield* rowsOf(user.id)).map((row) => [row.year, row.state])).toEqual([[Y, "pending"]])
        const current = yield* ledger.settle([{ key, epoch: 2 }], at(`${Y}-03-10T09:00:01Z`))
        expect(current.settled.map((row) => row.key)).toEqual([key])
      })
    ))

  it.live("defect 2: a command published before an edit is stale: not claimable, whatever its row's state", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const delivery = yield* DeliveryLedger
        const user = yield* create({ birthday: "1990-03-10" }, at(`${Y}-03-01T00:00:00Z`))
        const key = `birthday:${user.id}:${Y}`
        const due = at(`${Y}-03-10T09:00:01Z`)
        const [enqueued] = (yield* enqueueRound([key], due)).settled
        // A replay-like re-enqueue bumps the version: the first command is now stale.
        const fresh = yield* delivery.claim([{ key, version: enqueued!.version - 1 }], new Date(due), 30_000)
        expect(fresh.claimed).toEqual([])
        expect(fresh.unclaimed.map((u) => [u.state, u.current])).toEqual([["enqueued", false]])
        const current = yield* delivery.claim([{ key, version: enqueued!.version }], new Date(due), 30_000)
        expect(current.claimed.map((c) => c.key)).toEqual([key])
      })
    ))

  it.live("defect 8: the tzdata recompute of a slice finishes when a row cannot be rewritten", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const ledger = yield* OccurrenceLedger
        const now = at(`${Y}-03-01T00:00:00Z`)
        const user = yield* create({ birthday: "1990-03-10" }, now)
        // A second open row of the kind under an old tzdata release (the chain was broken by an old bug).
        yield* sql`
          INSERT INTO occurrences (key, kind, user_id, year, slice, local_date, due_at, deadline_at, state, tzdata,
                                   created_at, updated_at)
          VALUES (${`birthday:${user.id}:${Y - 1}`}, 'birthday', ${user.id}, ${Y - 1}, 0, ${`${Y - 1}-03-10`},
                  now(), now(), 'pending', '2019a', now(), now())`
        // Under the old loop this never returned (693 rounds in 5 s, each finding the same user).
        const result = yield* ledger.recomputeStaleTzdata(0, tzdataVersion, now, 100).pipe(Effect.timeout("10 seconds"))
        // Visited once, and the row it could not rewrite is reported (the slice logs it), not looped on.
        expect(result).toEqual({ users: 1, left: 1 })
      })
    ))
  it.live("a round queued ahead (SLICE_FIRE_AHEAD) enqueues only what is due within it, and the sweeper leaves it alone until due", () =>
    inLedger(() =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const ledger = yield* OccurrenceLedger
        const delivery = yield* DeliveryLedger
        const user = yield* create({ birthday: "1990-03-10" }, at(`${Y}-03-01T00:00:00Z`))
        const key = `birthday:${user.id}:${Y}`
        const [row] = yield* sql<{ due_at: Date }>`SELECT due_at FROM occurrences WHERE key = ${key}`
        const due = row!.due_at.getTime()
        yield* holdSlice
        const round = (now: number) => ledger.settle([{ key, epoch: 1 }], now, { aheadMs: 5_000 })
        expect((yield* round(due - 5_001)).settled).toEqual([])
        expect((yield* round(due - 5_000)).settled.map((r) => r.key)).toEqual([key])
        // Unclaimed for longer than the sweep age, but not yet due: its command is waiting in the broker.
        const ages = { enqueuedMs: 1_000, retryingMs: 1_000, sendingMs: 1_000, limit: 10 }
        expect(yield* delivery.sweep(new Date(due + 999), ages)).toEqual([])
        expect((yield* delivery.sweep(new Date(due + 1_001), ages)).map((r) => r.key)).toEqual([key])
      })
    ))
})
