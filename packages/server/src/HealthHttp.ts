import { BirthdayApi, NotReady } from "@birthday/domain"
import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { ClusterInspector } from "./ClusterInspector.js"
import { knownMigrations, migrationsTable } from "./Database.js"

/** Liveness (the process answers) and readiness (Postgres reachable, migrations applied; slice ownership shown). */
export const HealthHttpLive = HttpApiBuilder.group(BirthdayApi, "health", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const inspector = yield* ClusterInspector
    const expected = Math.max(0, ...(yield* knownMigrations.pipe(Effect.orDie)).map(([id]) => id))
    const ready = Effect.gen(function*() {
      const rows = yield* sql<{ latest: number | null }>`
        SELECT max(migration_id) AS latest FROM ${sql(migrationsTable)}`.pipe(
        Effect.timeout("2 seconds"),
        Effect.either
      )
      if (rows._tag === "Left") {
        return yield* new NotReady({ message: "Postgres is not reachable", checks: { postgres: "unreachable" } })
      }
      const latest = Number(rows.right[0]?.latest ?? 0)
      if (latest < expected) {
        return yield* new NotReady({
          message: "Migrations are not applied",
          checks: { postgres: "ok", migrations: `${latest}/${expected}` }
        })
      }
      // Slice ownership is reported, not required: the API keeps serving integrators while no
      // runner is up (greetings wait in Postgres); operators alert on it and on /metrics.
      const cluster = yield* inspector.status
      const owned = cluster.totalSlices - cluster.unownedSlices.length
      return {
        status: "ok" as const,
        checks: {
          postgres: "ok",
          migrations: `${latest}/${expected}`,
          slices: `${owned}/${cluster.totalSlices} owned by ${
            cluster.runners.filter((r) => r.healthy).length
          } runner(s)`
        }
      }
    }).pipe(Effect.withSpan("Health.ready"))
    return handlers.handle("live", () => Effect.succeed({ status: "ok" as const })).handle("ready", () => ready)
  })).pipe(Layer.provide(ClusterInspector.Default))
