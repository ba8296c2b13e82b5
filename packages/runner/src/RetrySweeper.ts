import { deliveryCommandOfRow, type DeliveryCommandRow } from "@birthday/domain"
import { maintenanceRound } from "@birthday/server/Observability"
import { SqlClient } from "@effect/sql"
import { Duration, Effect, Layer, Schedule } from "effect"
import { DeliverySettings } from "./DeliveryConfig.js"
import { Nats } from "./Nats.js"
import { commandPayload } from "./TraceHeaders.js"

/**
 * Postgres is the source of truth, so no `retrying` occurrence may be left without a message
 * that brings it back. A retry is always a pending nak of at most `retryCap` (or a lease of at
 * most `ackWait`); a row still `retrying` well past that has lost its message (a redelivery raced
 * its superseded copy), and is published again. The guarded touch lets one runner take each row;
 * the ledger claim and the `Idempotency-Key` keep a surplus copy from sending twice.
 */
export const RetrySweeperLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { jetstream, names } = yield* Nats
    const settings = yield* DeliverySettings
    const staleMs = 2 * Duration.toMillis(settings.ackWait) + Duration.toMillis(settings.retryCap)

    const sweep = Effect.gen(function*() {
      const now = new Date(yield* Effect.clockWith((clock) => clock.currentTimeMillis))
      const rows = yield* sql<DeliveryCommandRow>`
        UPDATE occurrences o SET updated_at = ${now}
        WHERE o.key IN (
          SELECT key FROM occurrences
          WHERE state = 'retrying' AND updated_at < ${new Date(now.getTime() - staleMs)}
          ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED)
        AND o.state = 'retrying'
        RETURNING o.key, o.kind, o.user_id::text AS user_id, o.year, o.due_at, o.deadline_at`
      yield* Effect.forEach(rows, (row) =>
        Effect.tryPromise(() =>
          jetstream.publish(
            names.deliverySubject(row.kind),
            commandPayload(deliveryCommandOfRow(row)),
            // Outside the dedupe window of the original key; the ledger dedupes instead.
            { msgID: `${row.key}:sweep:${now.getTime()}` }
          )
        ), { concurrency: 16, discard: true })
      if (rows.length > 0) {
        yield* Effect.logWarning(`Republished ${rows.length} retrying occurrence(s) whose message was lost`)
      }
    }).pipe(Effect.withSpan("RetrySweeper.sweep"), maintenanceRound)

    yield* sweep.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("Retry sweep failed; trying again", cause)),
      Effect.repeat(Schedule.spaced(settings.ackWait)),
      Effect.forkScoped
    )
  })
)
