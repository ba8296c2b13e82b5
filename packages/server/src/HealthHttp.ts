import { BirthdayApi, NotReady } from "@birthday/domain"
import { knownMigrations, migrationsTable } from "@birthday/ledger/Database"
import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { ClusterInspector } from "./ClusterInspector.js"
import { DeliveryCommandPublisher, type QueueStatus } from "./DeliveryCommandPublisher.js"

const queueCheck = (status: QueueStatus) =>
  status._tag === "Unreachable"
    ? { nats: `unreachable: ${status.reason}`, deliveryConsumer: "unknown" }
    : status._tag === "NoConsumer"
    ? { nats: "ok", deliveryConsumer: "not created yet (no runner has started)" }
    : { nats: "ok", deliveryConsumer: `${status.pending} pending, ${status.inFlight} in flight` }

/**
 * Liveness (the process answers) and readiness: Postgres reachable and migrations applied are
 * required; slice ownership, NATS and the delivery consumer's lag are reported beside them.
 */
export const HealthHttpLive = HttpApiBuilder.group(BirthdayApi, "health", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const inspector = yield* ClusterInspector
    const queue = yield* DeliveryCommandPublisher
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
      // Slice ownership, NATS and the consumer lag are reported, not required: the API keeps
      // serving integrators while no runner or no NATS is up (greetings wait in Postgres, the
      // source of truth); operators alert on them and on /metrics.
      const [cluster, queueStatus] = yield* Effect.all([inspector.status, queue.queueStatus("1 second")], {
        concurrency: 2
      })
      const owned = cluster.totalSlices - cluster.unownedSlices.length
      return {
        status: "ok" as const,
        checks: {
          postgres: "ok",
          migrations: `${latest}/${expected}`,
          slices: `${owned}/${cluster.totalSlices} owned by ${
            cluster.runners.filter((r) => r.healthy).length
          } runner(s)`,
          ...queueCheck(queueStatus)
        }
      }
    }).pipe(Effect.withSpan("Health.ready"))
    return handlers.handle("live", () => Effect.succeed({ status: "ok" as const })).handle("ready", () => ready)
  })).pipe(Layer.provide([ClusterInspector.Default, DeliveryCommandPublisher.layer]))
