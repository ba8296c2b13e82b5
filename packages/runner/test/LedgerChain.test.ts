/**
 * The yearly chain on the real processes: runner processes with their delivery workers, the
 * simulator as its own process, real Postgres and NATS. Every user is greeted once per kind per
 * year and is scheduled for the next one, whatever the burst or the restart.
 */
import { OccasionSettings, sliceOf } from "@birthday/domain"
import { EmailSimAdmin } from "@birthday/email-sim"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { simulatorProcess } from "./support/DeliveryHarness.js"
import {
  schedulerRun,
  seedPending,
  sqlLayer,
  startRunner,
  startRunners,
  stateCounts,
  waitUntil
} from "./support/SchedulerHarness.js"

/** Runners that send: delivery workers on, to the simulator at `baseUrl`. */
const sendingEnv = (baseUrl: string, extra: Record<string, string> = {}) => ({
  DELIVERY_WORKERS: "true",
  EMAIL_SERVICE_URL: baseUrl,
  PROVIDER_RATE_LIMIT: "0",
  DELIVERY_ACK_WAIT: "10 seconds",
  ...extra
})

/** Keys acknowledged by the simulator more than once (must be none). */
const duplicates = (messages: ReadonlyArray<{ readonly key: string | null }>) => {
  const seen = new Map<string, number>()
  for (const message of messages) seen.set(message.key ?? "", (seen.get(message.key ?? "") ?? 0) + 1)
  return [...seen].filter(([, n]) => n > 1)
}

/**
 * The chain: per live user and kind with an anchor, exactly one open occurrence, of a year after
 * the last settled one. Returns the users that break it.
 */
const brokenChains = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{ user_id: string; kind: string; open: number }>`
    WITH anchored AS (
      SELECT id AS user_id, 'birthday' AS kind FROM users WHERE deleted_at IS NULL
      UNION ALL SELECT id, 'anniversary' FROM users WHERE deleted_at IS NULL AND anniversary IS NOT NULL
    ), chain AS (
      SELECT a.user_id, a.kind,
        count(o.key) FILTER (WHERE o.state IN ('pending', 'enqueued', 'sending', 'retrying')) AS open,
        max(o.year) FILTER (WHERE o.state IN ('pending', 'enqueued', 'sending', 'retrying')) AS open_year,
        max(o.year) FILTER (WHERE o.state IN ('sent', 'dead', 'ambiguous', 'expired')) AS settled_year
      FROM anchored a LEFT JOIN occurrences o ON o.user_id = a.user_id AND o.kind = a.kind
      GROUP BY a.user_id, a.kind
    )
    SELECT user_id::text, kind, open::int FROM chain
    WHERE open <> 1 OR (settled_year IS NOT NULL AND open_year <= settled_year)`
})

describe("the yearly chain on the real processes", () => {
  it.scopedLive(
    "a burst of 5,000 due at one instant with 2 runners: every user sent once and scheduled for next year",
    () =>
      Effect.gen(function*() {
        const run = yield* schedulerRun(64)
        const baseUrl = yield* simulatorProcess()
        const dueAt = Date.now() + 40_000
        const year = new Date(dueAt).getUTCFullYear()
        const keys = yield* seedPending(run, Array.from({ length: 5_000 }, () => dueAt)).pipe(
          Effect.provide(sqlLayer(run))
        )
        const started = Date.now()
        yield* startRunners(run, 2, sendingEnv(baseUrl))
        yield* Effect.gen(function*() {
          yield* waitUntil(
            "all 5,000 sent",
            Effect.map(stateCounts, (c) => (c.sent ?? 0) === 5_000),
            Math.max(0, dueAt - Date.now()) + 180_000
          )
          const messages = yield* EmailSimAdmin.allMessages(baseUrl)
          expect(duplicates(messages)).toEqual([])
          expect(new Set(messages.map((m) => m.key))).toEqual(new Set(keys))
          // Next year's occurrence of every user, at 09:00 UTC on the birthday (the seeded due
          // instant was arbitrary; the successor comes from the calendar).
          const sql = yield* SqlClient.SqlClient
          const next = yield* sql<{ n: number; wrong: number }>`
            SELECT count(*)::int AS n,
              count(*) FILTER (WHERE due_at <> (local_date + time '09:00') AT TIME ZONE 'UTC')::int AS wrong
            FROM occurrences WHERE state = 'pending' AND year = ${year + 1}`
          expect(next[0]).toEqual({ n: 5_000, wrong: 0 })
          expect(yield* brokenChains).toEqual([])
          console.log(
            `burst: 5,000 due at one instant, 2 runners: sent once each, 5,000 scheduled for ${
              year + 1
            }, chain violations 0 (${Math.round((Date.now() - started) / 1000)} s from start)`
          )
        }).pipe(Effect.provide(sqlLayer(run)))
      }),
    300_000
  )

  it.scopedLive(
    "three years on the real processes: stopped, and started again a year later, three greetings per kind",
    () =>
      Effect.gen(function*() {
        const run = yield* schedulerRun(16)
        const baseUrl = yield* simulatorProcess()
        const users = 20
        // 09:00 on 10 March in each user's zone; the runner starts a minute before it each year.
        const zones = ["UTC", "Europe/Lisbon", "Africa/Abidjan", "Atlantic/Reykjavik"]
        const firstYear = 2030
        const appStart = (year: number) => Date.parse(`${year}-03-10T08:59:00Z`)
        yield* Effect.gen(function*() {
          const ledger = yield* OccurrenceLedger
          const sql = yield* SqlClient.SqlClient
          const now = appStart(firstYear) - 86_400_000
          const subjects = Array.from({ length: users }, (_, i) => {
            const id = randomUUID()
            return {
              id,
              birthday: "1990-03-10",
              anniversary: "2015-03-10",
              timeZone: zones[i % zones.length]!,
              slice: sliceOf(id, run.slices)
            }
          })
          for (const s of subjects) {
            yield* sql`
              INSERT INTO users (id, first_name, last_name, email, birthday, anniversary, time_zone, slice, created_at,
                                 updated_at)
              VALUES (${s.id}, 'Ada', 'Lovelace', ${`u-${s.id}@example.com`}, ${s.birthday}::date,
                      ${s.anniversary}::date, ${s.timeZone}, ${s.slice}, now(), now())`
          }
          // What a create does, a day before the first greetings (in the processes' time).
          yield* ledger.storePending(
            ledger.firstOccurrences(subjects.map((subject) => ({ subject, slice: subject.slice })), now),
            now
          )
        }).pipe(
          Effect.provide(OccurrenceLedger.DefaultWithoutDependencies),
          Effect.provide(OccasionSettings.layerWith()),
          Effect.provide(sqlLayer(run))
        )

        for (let year = firstYear; year < firstYear + 3; year++) {
          const offsetMs = appStart(year) - Date.now()
          const runner = yield* startRunner(run, sendingEnv(baseUrl, { CLOCK_OFFSET: `${offsetMs} millis` }))
          const expected = (year - firstYear + 1) * users * 2
          yield* waitUntil(
            `the ${year} greetings`,
            Effect.map(EmailSimAdmin.stats(baseUrl), (stats) => stats.acknowledged >= expected),
            180_000
          ).pipe(Effect.tapErrorCause(() => Effect.sync(() => console.error(runner.output()))))
          yield* runner.kill("SIGTERM")
        }

        const messages = yield* EmailSimAdmin.allMessages(baseUrl)
        expect(duplicates(messages)).toEqual([])
        const perKindYear = new Map<string, number>()
        for (const m of messages) {
          const [kind, , y] = (m.key ?? "").split(":")
          perKindYear.set(`${kind}:${y}`, (perKindYear.get(`${kind}:${y}`) ?? 0) + 1)
        }
        expect(Object.fromEntries(perKindYear)).toEqual({
          [`birthday:${firstYear}`]: users,
          [`anniversary:${firstYear}`]: users,
          [`birthday:${firstYear + 1}`]: users,
          [`anniversary:${firstYear + 1}`]: users,
          [`birthday:${firstYear + 2}`]: users,
          [`anniversary:${firstYear + 2}`]: users
        })
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const open = yield* sql<{ year: number; n: number }>`
            SELECT year, count(*)::int AS n FROM occurrences WHERE state = 'pending' GROUP BY year`
          expect(open).toEqual([{ year: firstYear + 3, n: users * 2 }])
          expect(yield* brokenChains).toEqual([])
        }).pipe(Effect.provide(sqlLayer(run)))
      }),
    600_000
  )
})
