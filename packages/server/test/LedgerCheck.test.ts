import {
  type LedgerCheckReport,
  type LedgerViolationKind,
  occasionKinds,
  OccasionSettings,
  occurrenceInYear,
  tzdataVersion
} from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Redacted, type Scope, TestClock } from "effect"
import { randomUUID } from "node:crypto"
import pg from "pg"
import { MigrationsLive, pgLayer } from "../src/Database.js"
import { LedgerCheck } from "../src/LedgerCheck.js"
import { testDatabaseUrl } from "./support/TestDatabase.js"

// Every test pins "now" to this instant; nothing depends on today's date.
const now = Date.UTC(2026, 5, 15, 12, 0, 0)
const hour = 3_600_000

interface TestUser {
  readonly id: string
  readonly birthday: string
  readonly anniversary?: string | null
  readonly timeZone?: string
  readonly deleted?: boolean
}

const insertUser = (user: TestUser) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      INSERT INTO users (id, first_name, last_name, email, birthday, anniversary, time_zone, slice, created_at,
                         updated_at, deleted_at)
      VALUES (${user.id}, 'Ada', 'Lovelace', ${`ada-${user.id}@example.com`}, ${user.birthday}::date,
              ${user.anniversary ?? null}::date, ${user.timeZone ?? "UTC"}, 0, ${new Date(now - 100 * 24 * hour)},
              ${new Date(now)}, ${user.deleted ? new Date(now - hour) : null})`)

interface RowOverrides {
  readonly key?: string
  readonly dueMs?: number
  readonly sentAt?: Date | null
  readonly lastError?: string | null
  readonly updatedAt?: Date
}

/** One occurrence at the calendar's instant for the user's data (unless overridden). */
const insertRow = (
  user: TestUser,
  kind: "birthday" | "anniversary",
  year: number,
  state: string,
  overrides: RowOverrides = {}
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const subject = {
      id: user.id,
      timeZone: user.timeZone ?? "UTC",
      birthday: user.birthday,
      anniversary: user.anniversary ?? "2010-12-01"
    }
    const occurrence = Option.getOrThrow(occurrenceInYear(occasionKinds[kind], subject, year))
    const due = overrides.dueMs ?? occurrence.dueAt
    const sentAt = overrides.sentAt === undefined ? (state === "sent" ? new Date(due + 1000) : null) : overrides.sentAt
    const lastError = overrides.lastError === undefined ? (state === "dead" ? "HTTP 400" : null) : overrides.lastError
    yield* sql`
      INSERT INTO occurrences (key, kind, user_id, year, slice, local_date, due_at, deadline_at, state, tzdata,
                               last_error, sent_at, created_at, updated_at)
      VALUES (${overrides.key ?? occurrence.key}, ${kind}, ${user.id}, ${year}, 0, ${occurrence.localDate}::date,
              ${new Date(due)}, ${new Date(due + 48 * hour)}, ${state}, ${tzdataVersion}, ${lastError}, ${sentAt},
              ${new Date(now - 200 * 24 * hour)}, ${overrides.updatedAt ?? new Date(now)})`
  })

const user = (birthday: string, extra: Partial<TestUser> = {}): TestUser => ({ id: randomUUID(), birthday, ...extra })

/** A fresh migrated database with the checker on it; the clock stands at `now`. */
const withLedger = <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient | LedgerCheck>) => withLedgerAt(() => body)

/** `withLedger`, with the database's URL for a connection of the test's own. */
const withLedgerAt = <A, E>(
  body: (url: string) => Effect.Effect<A, E, SqlClient.SqlClient | LedgerCheck | Scope.Scope>
) =>
  Effect.gen(function*() {
    const db = yield* testDatabaseUrl
    const sql = MigrationsLive.pipe(
      Layer.provideMerge(pgLayer(Redacted.make(Redacted.value(db.url)), { maxConnections: 2 }))
    )
    const live = LedgerCheck.DefaultWithoutDependencies.pipe(
      Layer.provideMerge(sql),
      Layer.provide(OccasionSettings.layerWith())
    )
    yield* TestClock.setTime(now)
    return yield* body(Redacted.value(db.url)).pipe(Effect.provide(live))
  })

const byKind = (report: LedgerCheckReport) =>
  Object.fromEntries(report.violations.map((violation) => [violation.kind, violation])) as Record<
    LedgerViolationKind,
    LedgerCheckReport["violations"][number]
  >

const usersIn = (report: LedgerCheckReport, kind: LedgerViolationKind) =>
  new Set(byKind(report)[kind].samples.map((sample) => sample.userId))

describe("LedgerCheck", () => {
  it.scoped("a good ledger is clean, including the states a live system passes through", () =>
    withLedger(Effect.gen(function*() {
      // Sent this year, next year pending.
      const sent = user("1990-03-10")
      // Still ahead this year, never settled.
      const ahead = user("1990-12-20", { timeZone: "Europe/London", anniversary: "2012-08-01" })
      // Due yesterday, still pending within the late window: an earlier year not yet settled is right.
      const late = user("1990-06-14", { timeZone: "Asia/Tokyo" })
      // In flight this year (enqueued, retrying, sending), next year pending.
      const enqueued = user("1990-06-15")
      const retrying = user("1990-06-15")
      const sending = user("1990-06-15")
      // Anniversary sent last year, this year's pending again after a removal and re-add.
      const readded = user("1990-01-01", { anniversary: "2010-09-09" })
      // Anniversary removed: its open occurrence cancelled, nothing owed.
      const removed = user("1990-01-01", { anniversary: null })
      // Deleted: everything cancelled.
      const deleted = user("1990-09-09", { deleted: true })
      for (const u of [sent, ahead, late, enqueued, retrying, sending, readded, removed, deleted]) yield* insertUser(u)
      yield* insertRow(sent, "birthday", 2026, "sent")
      yield* insertRow(sent, "birthday", 2027, "pending")
      yield* insertRow(ahead, "birthday", 2026, "pending")
      yield* insertRow(ahead, "anniversary", 2026, "pending")
      yield* insertRow(late, "birthday", 2026, "pending")
      for (const [u, state] of [[enqueued, "enqueued"], [retrying, "retrying"], [sending, "sending"]] as const) {
        yield* insertRow(u, "birthday", 2026, state)
        yield* insertRow(u, "birthday", 2027, "pending")
      }
      yield* insertRow(readded, "birthday", 2026, "sent")
      yield* insertRow(readded, "birthday", 2027, "pending")
      yield* insertRow(readded, "anniversary", 2025, "sent")
      yield* insertRow(readded, "anniversary", 2026, "pending")
      yield* insertRow(removed, "birthday", 2026, "sent")
      yield* insertRow(removed, "birthday", 2027, "pending")
      yield* insertRow(removed, "anniversary", 2026, "cancelled")
      yield* insertRow(deleted, "birthday", 2026, "cancelled")
      const report = yield* (yield* LedgerCheck).run()
      expect(report.violations.filter((v) => v.count > 0)).toEqual([])
      expect(report).toMatchObject({ clean: true, violationCount: 0, users: 8, leaseColumn: true })
    })))

  it.scoped("each violated invariant is reported with the offending keys", () =>
    withLedger(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const missing = user("1990-03-10")
      const noSuccessor = user("1990-03-10")
      const twoOpen = user("1990-12-20")
      const skipsYear = user("1990-12-20")
      const pastSettled = user("1990-03-10")
      const offHour = user("1990-12-20", { timeZone: "Europe/London" })
      const noAnchor = user("1990-12-20", { anniversary: null })
      const gone = user("1990-12-20", { deleted: true })
      const overdue = user("1990-06-01")
      const stuck = user("1990-06-15")
      const silentDead = user("1990-02-02")
      const twoRows = user("1990-02-02")
      const early = user("1990-02-02")
      const twice = user("1990-02-02")
      for (
        const u of [
          missing,
          noSuccessor,
          twoOpen,
          skipsYear,
          pastSettled,
          offHour,
          noAnchor,
          gone,
          overdue,
          stuck,
          silentDead,
          twoRows,
          early,
          twice
        ]
      ) yield* insertUser(u)
      yield* insertRow(missing, "birthday", 2026, "expired")
      yield* insertRow(noSuccessor, "birthday", 2026, "sent")
      yield* insertRow(twoOpen, "birthday", 2026, "pending")
      yield* insertRow(twoOpen, "birthday", 2027, "pending")
      yield* insertRow(skipsYear, "birthday", 2027, "pending")
      yield* insertRow(pastSettled, "birthday", 2026, "sent")
      yield* insertRow(pastSettled, "birthday", 2028, "pending")
      const offHourDue =
        Option.getOrThrow(occurrenceInYear(occasionKinds.birthday, { ...offHour, timeZone: "Europe/London" }, 2026))
          .dueAt
      yield* insertRow(offHour, "birthday", 2026, "pending", { dueMs: offHourDue + hour })
      yield* insertRow(noAnchor, "birthday", 2026, "pending")
      yield* insertRow(noAnchor, "anniversary", 2026, "pending")
      yield* insertRow(gone, "birthday", 2026, "pending")
      yield* insertRow(overdue, "birthday", 2026, "pending")
      yield* insertRow(stuck, "birthday", 2026, "sending", { updatedAt: new Date(now - 10 * 60_000) })
      yield* insertRow(stuck, "birthday", 2027, "pending")
      yield* insertRow(silentDead, "birthday", 2026, "dead", { lastError: null })
      yield* insertRow(silentDead, "birthday", 2027, "pending")
      yield* insertRow(twoRows, "birthday", 2026, "sent")
      yield* insertRow(twoRows, "birthday", 2026, "expired", { key: `legacy:${twoRows.id}` })
      yield* insertRow(twoRows, "birthday", 2027, "pending")
      const earlyDue =
        Option.getOrThrow(occurrenceInYear(occasionKinds.birthday, { ...early, timeZone: "UTC" }, 2026)).dueAt
      yield* insertRow(early, "birthday", 2026, "sent", { sentAt: new Date(earlyDue - 5_000) })
      yield* insertRow(early, "birthday", 2027, "pending")
      yield* insertRow(twice, "birthday", 2026, "sent")
      yield* insertRow(twice, "birthday", 2027, "pending")
      for (const attempt of [1, 2]) {
        yield* sql`
          INSERT INTO delivery_attempts (key, attempt, outcome, status, error, runner, started_at, finished_at)
          VALUES (${`birthday:${twice.id}:2026`}, ${attempt}, 'sent', 200, NULL, 'r', now(), now())`
      }

      const report = yield* (yield* LedgerCheck).run({ sampleLimit: 50 })
      const expected: Record<LedgerViolationKind, ReadonlyArray<TestUser>> = {
        missing_next: [missing, noSuccessor],
        sent_without_successor: [noSuccessor],
        duplicate_open: [twoOpen],
        wrong_year: [skipsYear, pastSettled],
        wrong_instant: [offHour],
        open_without_anchor: [noAnchor],
        deleted_user_open: [gone],
        past_deadline_open: [overdue],
        sending_past_lease: [stuck],
        dead_without_error: [silentDead],
        duplicate_year: [twoRows],
        sent_outside_window: [early],
        sent_twice: [twice]
      }
      for (const [kind, users] of Object.entries(expected) as Array<[LedgerViolationKind, ReadonlyArray<TestUser>]>) {
        expect([...usersIn(report, kind)].sort(), kind).toEqual(users.map((u) => u.id).sort())
      }
      const violations = byKind(report)
      expect(violations.duplicate_open.count).toBe(2)
      expect(violations.wrong_instant.samples[0]!.detail).toContain("calendar says")
      expect(violations.wrong_year.samples.find((s) => s.userId === skipsYear.id)!.detail).toContain("skips 2026")
      expect(report.clean).toBe(false)
      expect(report.violationCount).toBe(report.violations.reduce((sum, v) => sum + v.count, 0))
    })))

  it.scoped("counts are totals while samples are bounded; the graces are honoured", () =>
    withLedger(Effect.gen(function*() {
      const stuck = Array.from({ length: 5 }, () => user("1990-06-15"))
      for (const u of stuck) {
        yield* insertUser(u)
        yield* insertRow(u, "birthday", 2026, "sending", { updatedAt: new Date(now - 10 * 60_000) })
        yield* insertRow(u, "birthday", 2027, "pending")
      }
      const check = yield* LedgerCheck
      const bounded = byKind(yield* check.run({ sampleLimit: 2 })).sending_past_lease
      expect(bounded.count).toBe(5)
      expect(bounded.samples).toHaveLength(2)
      // Ten minutes without an update is within a grace of fifteen.
      expect((yield* check.run({ sendingGrace: "15 minutes" })).clean).toBe(true)
    })))
  it.scoped(
    "concurrent checks share one run and hold at most one connection: other queries keep the rest of the pool",
    () =>
      withLedgerAt((url) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const check = yield* LedgerCheck
          yield* insertUser(user("1990-06-20"))
          // Every check blocks on its first read of occurrences, holding its connection (pool: 2).
          const locker = new pg.Client({ connectionString: url })
          yield* Effect.acquireRelease(
            Effect.promise(async () => {
              await locker.connect()
              await locker.query("BEGIN; LOCK TABLE occurrences IN ACCESS EXCLUSIVE MODE")
            }),
            () => Effect.promise(() => locker.end())
          )
          const checks = yield* Effect.fork(Effect.all(Array.from({ length: 6 }, () => check.run()), {
            concurrency: "unbounded"
          }))
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 500)))
          // A read of another table gets a connection meanwhile (before: the checks held both, and it
          // waited for the pool's connect timeout).
          const read = yield* Effect.raceFirst(
            Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM users`, (rows) => rows[0]!.n),
            Effect.promise(() => new Promise<string>((resolve) => setTimeout(() => resolve("no connection"), 3_000)))
          )
          expect(read).toBe(1)
          yield* Effect.promise(() => locker.query("COMMIT"))
          const reports = yield* Fiber.join(checks)
          expect(reports).toHaveLength(6)
          // One run, shared: the same report to every caller.
          expect(new Set(reports).size).toBe(1)
          expect(reports[0]!.users).toBe(1)
        })
      ),
    30_000
  )
})
