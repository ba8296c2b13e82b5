/**
 * Processes starting together on a fresh database (`pnpm start` starts the API and a runner at
 * once) each apply the migrations: every one of them must come up, and the schema once.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { knownMigrations, MigrationsLive, migrationsTable, pgLayer } from "../src/Database.js"
import { ledgerDatabase } from "./support/LedgerDatabase.js"

/** One process's start: its own pool, then the migrations. */
const start = (url: string) =>
  Effect.scoped(
    Layer.build(MigrationsLive.pipe(Layer.provideMerge(pgLayer(Redacted.make(url), { maxConnections: 2 }))))
  )

describe("migrations", () => {
  it.scopedLive(
    "four processes migrating one fresh database at once all start, and each migration runs once",
    () =>
      Effect.gen(function*() {
        for (let round = 0; round < 3; round++) {
          const { url } = yield* ledgerDatabase
          const results = yield* Effect.all(Array.from({ length: 4 }, () => Effect.exit(start(url))), {
            concurrency: "unbounded"
          })
          expect(results.map((exit) => exit._tag)).toEqual(["Success", "Success", "Success", "Success"])
          const rows = yield* Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            return yield* sql<{ id: number; n: number }>`
            SELECT migration_id AS id, count(*)::int AS n FROM ${sql(migrationsTable)} GROUP BY 1`
          }).pipe(Effect.provide(pgLayer(Redacted.make(url), { maxConnections: 1 })))
          expect(rows.map((row) => row.id).sort((a, b) => a - b)).toEqual((yield* knownMigrations).map(([id]) => id))
          expect(rows.filter((row) => row.n !== 1)).toEqual([])
        }
      }),
    120_000
  )
})
