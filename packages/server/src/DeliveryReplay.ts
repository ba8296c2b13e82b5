import {
  type BulkReplayRequest,
  BulkReplayResult,
  deliveryCommandOfRow,
  type DeliveryCommandRow,
  DeliveryNotFound,
  DeliveryNotReplayable,
  DeliveryQueryInvalid,
  type LedgerState,
  ReplayResult,
  ReplayUnavailable
} from "@birthday/domain"
import { SqlClient } from "@effect/sql"
import { DateTime, Duration, Effect } from "effect"
import { AuditLog } from "./AuditLog.js"
import { DeliveryCommandPublisher } from "./DeliveryCommandPublisher.js"

interface ReplayedRow extends DeliveryCommandRow {
  readonly replays: number
}

const bulkBatch = 500

/**
 * Replays: a guarded `dead | ambiguous | expired → enqueued` step (attempts reset, deadline
 * extended by the replay window) and a re-published command under `{key}:replay:{n}`, so the
 * JetStream dedupe window does not drop it. At most one send still holds: the worker claims only
 * `enqueued`/`retrying` rows and the provider sees the same `Idempotency-Key`. A row left
 * `enqueued` by a failed publish can be replayed again (single replay accepts `enqueued`).
 */
export class DeliveryReplay extends Effect.Service<DeliveryReplay>()("@birthday/server/DeliveryReplay", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const publisher = yield* DeliveryCommandPublisher
    const audit = yield* AuditLog
    const now = Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (ms) => new Date(ms))

    const publish = (row: ReplayedRow) =>
      publisher.publish(deliveryCommandOfRow(row), `${row.key}:replay:${row.replays}`).pipe(
        Effect.mapError((error) => new ReplayUnavailable({ message: error.message }))
      )

    const requeue = (at: Date) =>
      sql`
        state = 'enqueued', attempts = 0, replays = replays + 1, enqueued_at = ${at}, updated_at = ${at},
        deadline_at = GREATEST(deadline_at, ${new Date(at.getTime() + Duration.toMillis(publisher.replayWindow))})`

    // Who replayed what is audited in the transaction of the step itself, before the publish.
    const replayOne = Effect.fn("DeliveryReplay.replayOne")(function*(key: string, actor: string) {
      const at = yield* now
      const [row] = yield* Effect.flatMap(
        sql<ReplayedRow>`
        UPDATE occurrences o SET ${requeue(at)}
        FROM users u
        WHERE o.key = ${key} AND u.id = o.user_id AND u.deleted_at IS NULL
          AND o.state IN ('dead', 'ambiguous', 'expired', 'enqueued')
        RETURNING o.key, o.kind, o.user_id::text AS user_id, o.year, o.due_at, o.deadline_at, o.replays`,
        (rows) =>
          rows.length === 0 ? Effect.succeed(rows) : audit.record({
            actor,
            action: "replay",
            entity: "occurrence",
            entityId: key,
            before: null,
            after: { state: "enqueued", replays: rows[0]!.replays }
          }).pipe(Effect.as(rows))
      ).pipe(sql.withTransaction, Effect.orDie)
      if (row === undefined) {
        const [current] = yield* sql<{ state: LedgerState }>`SELECT state FROM occurrences WHERE key = ${key}`.pipe(
          Effect.orDie
        )
        if (current === undefined) return yield* new DeliveryNotFound({ key, message: `No occurrence with key ${key}` })
        return yield* new DeliveryNotReplayable({
          key,
          state: current.state,
          message: `Occurrence ${key} is ${current.state}${
            current.state === "enqueued" ? " for a deleted user" : ""
          }; only dead, ambiguous, expired or stuck enqueued occurrences are replayed`
        })
      }
      yield* publish(row)
      yield* Effect.logInfo("Replayed a delivery").pipe(Effect.annotateLogs({ key, replays: row.replays }))
      return ReplayResult.make({ key, state: "enqueued", replays: row.replays })
    })

    const replayBulk = Effect.fn("DeliveryReplay.replayBulk")(function*(request: BulkReplayRequest, actor: string) {
      const from = DateTime.toDateUtc(request.from)
      const to = DateTime.toDateUtc(request.to)
      if (from.getTime() >= to.getTime()) {
        return yield* new DeliveryQueryInvalid({ message: "from must be before to" })
      }
      const states = request.states === undefined || request.states.length === 0 ? ["dead"] : [...request.states]
      const match = sql.and([
        sql`o.state IN ${sql.in(states)}`,
        sql`o.due_at >= ${from}`,
        sql`o.due_at < ${to}`,
        ...(request.kind === undefined ? [] : [sql`o.kind = ${request.kind}`])
      ])
      const [{ count }] = yield* sql<{ count: string }>`
        SELECT count(*) AS count FROM occurrences o JOIN users u ON u.id = o.user_id
        WHERE ${match} AND u.deleted_at IS NULL`.pipe(Effect.orDie)
      const matched = Number(count)
      if (request.dryRun === true) return BulkReplayResult.make({ matched, replayed: 0, dryRun: true })
      let replayed = 0
      // Bounded batches, oldest first, one statement each; repeat while a batch comes back full.
      while (true) {
        const at = yield* now
        const rows = yield* sql<ReplayedRow>`
          UPDATE occurrences o SET ${requeue(at)}
          WHERE o.key IN (
            SELECT o.key FROM occurrences o JOIN users u ON u.id = o.user_id
            WHERE ${match} AND u.deleted_at IS NULL
            ORDER BY o.due_at LIMIT ${bulkBatch} FOR UPDATE OF o SKIP LOCKED
          ) AND o.state IN ${sql.in(states)}
          RETURNING o.key, o.kind, o.user_id::text AS user_id, o.year, o.due_at, o.deadline_at, o.replays`.pipe(
          // One audit row per batch, in the batch's transaction, naming every key it replayed.
          Effect.tap((rows) =>
            rows.length === 0 ? Effect.void : audit.record({
              actor,
              action: "replay",
              entity: "occurrence",
              entityId: `replay:${from.toISOString()}/${to.toISOString()}`,
              before: null,
              after: { keys: rows.map((row) => row.key), states, kind: request.kind ?? null }
            })
          ),
          sql.withTransaction,
          Effect.orDie
        )
        yield* Effect.forEach(rows, publish, { concurrency: 64, discard: true })
        replayed += rows.length
        if (rows.length < bulkBatch) break
      }
      yield* Effect.logInfo(`Replayed ${replayed} deliveries in bulk`)
      return BulkReplayResult.make({ matched, replayed, dryRun: false })
    })

    return { replayOne, replayBulk }
  }),
  dependencies: [DeliveryCommandPublisher.layer, AuditLog.Default]
}) {}
