/**
 * A migrated database of its own for one ledger test (dropped when the scope closes), users
 * written directly, and readers of the ledger for assertions.
 */
import { OccasionSettings, type OccasionSubject } from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Redacted } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import pg from "pg"
import { MigrationsLive, pgLayer } from "../../src/Database.js"
import { DeliveryLedger } from "../../src/DeliveryLedger.js"
import { OccurrenceLedger } from "../../src/OccurrenceLedger.js"

const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres"

/** A fresh database URL, dropped (connections forced off) when the scope closes. */
export const ledgerDatabase = Effect.acquireRelease(
  Effect.sync(() => {
    const name = `birthday_test_ledger_${randomBytes(4).toString("hex")}`
    return { name, url: `postgres://postgres@127.0.0.1:5432/${name}` }
  }),
  ({ name }) =>
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: adminUrl })
      await client.connect()
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => client.end())
    })
)

/** Postgres (migrated), the two ledger services, default occasion settings. */
export const ledgerLayer = (url: string) =>
  Layer.mergeAll(OccurrenceLedger.DefaultWithoutDependencies, DeliveryLedger.layer).pipe(
    Layer.provideMerge(OccasionSettings.layerWith()),
    Layer.provideMerge(MigrationsLive.pipe(Layer.provideMerge(pgLayer(Redacted.make(url), { maxConnections: 8 }))))
  )

/** A user as the ledger reads it. */
export interface TestUser extends OccasionSubject {
  readonly slice: number
}

/** Inserts a live user row (slice 0) and returns it. */
export const insertUser = (fields: Partial<Omit<TestUser, "id" | "slice">> = {}, now: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const user: TestUser = {
      id: randomUUID(),
      birthday: "1990-03-10",
      anniversary: null,
      timeZone: "UTC",
      slice: 0,
      ...fields
    }
    yield* sql`
      INSERT INTO users (id, first_name, last_name, email, birthday, anniversary, time_zone, slice, created_at,
                         updated_at)
      VALUES (${user.id}, 'Ada', 'Lovelace', ${`u-${user.id}@example.com`}, ${user.birthday}::date,
              ${user.anniversary}::date, ${user.timeZone}, ${user.slice}, to_timestamp(${now} / 1000.0),
              to_timestamp(${now} / 1000.0))`
    return user
  })

/** One ledger row as the tests look at it. */
export interface Row {
  readonly key: string
  readonly kind: string
  readonly year: number
  readonly state: string
  readonly due: string
  readonly attempts: number
}

/** Every occurrence of a user, by kind and year. */
export const rowsOf = (userId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<Row>`
      SELECT key, kind, year, state, to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') AS due, attempts
      FROM occurrences WHERE user_id = ${userId} ORDER BY kind, year`)

/** The open (`pending | enqueued | sending | retrying`) occurrences of a user. */
export const openRowsOf = (userId: string) =>
  Effect.map(
    rowsOf(userId),
    (rows) => rows.filter((row) => ["pending", "enqueued", "sending", "retrying"].includes(row.state))
  )
