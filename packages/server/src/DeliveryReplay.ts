import {
  type BulkReplayRequest,
  BulkReplayResult,
  deliveryCommandOfRow,
  DeliveryNotFound,
  DeliveryNotReplayable,
  DeliveryQueryInvalid,
  type LedgerState,
  ReplayResult
} from "@birthday/domain"
import { DeliveryLedger, type ReplayedRow } from "@birthday/ledger/DeliveryLedger"
import { SqlClient } from "@effect/sql"
import { DateTime, Duration, Effect } from "effect"
import { AuditLog } from "./AuditLog.js"
import { DeliveryCommandPublisher } from "./DeliveryCommandPublisher.js"

const bulkBatch = 500

/**
 * Replays: the ledger's guarded `replay` transition (`dead | ambiguous | expired → enqueued`,
 * version+1, attempts reset, deadline extended by the replay window) and a re-published command
 * at the new version under `{key}:replay:{n}`, so the
 * JetStream dedupe window does not drop it. At most one send still holds: the worker claims only
 * `enqueued`/`retrying` rows and the provider sees the same `Idempotency-Key`.
 *
 * Record, then publish: once the transition commits the replay stands, whatever the queue does.
 * A command the queue does not take (NATS or the stream unavailable) is not an error: the row is
 * `enqueued` and the retry sweeper republishes it (docs/ledger.md, `sweep`), so the answer says
 * `published: false` rather than a 503 for a change that was made.
 */
export class DeliveryReplay extends Effect.Service<DeliveryReplay>()("@birthday/server/DeliveryReplay", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ledger = yield* DeliveryLedger
    const publisher = yield* DeliveryCommandPublisher
    const audit = yield* AuditLog
    const windowMs = Duration.toMillis(publisher.replayWindow)
    const now = Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (ms) => new Date(ms))

    /** Whether the queue took the command; a failure is left to the sweeper. */
    const publish = (row: ReplayedRow) =>
      publisher.publish(deliveryCommandOfRow(row), `${row.key}:replay:${row.replays}`).pipe(
        Effect.as(true),
        Effect.catchAll((error) =>
          Effect.logWarning("Replay recorded; the retry sweeper will publish its command", error.message).pipe(
            Effect.annotateLogs({ key: row.key }),
            Effect.as(false)
          )
        )
      )

    // Who replayed what is audited in the transaction of the step itself, before the publish.
    const replayOne = Effect.fn("DeliveryReplay.replayOne")(function*(key: string, actor: string) {
      const at = yield* now
      const [row] = yield* ledger.replayOne(key, at, windowMs).pipe(
        Effect.tap((rows) =>
          rows.length === 0 ? Effect.void : audit.record({
            actor,
            action: "replay",
            entity: "occurrence",
            entityId: key,
            before: null,
            after: { state: "enqueued", replays: rows[0]!.replays }
          })
        ),
        sql.withTransaction,
        Effect.orDie
      )
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
      const published = yield* publish(row)
      yield* Effect.logInfo("Replayed a delivery").pipe(Effect.annotateLogs({ key, replays: row.replays, published }))
      return ReplayResult.make({ key, state: "enqueued", replays: row.replays, published })
    })

    const replayBulk = Effect.fn("DeliveryReplay.replayBulk")(function*(request: BulkReplayRequest, actor: string) {
      const from = DateTime.toDateUtc(request.from)
      const to = DateTime.toDateUtc(request.to)
      if (from.getTime() >= to.getTime()) {
        return yield* new DeliveryQueryInvalid({ message: "from must be before to" })
      }
      const states = request.states === undefined || request.states.length === 0 ? ["dead"] : [...request.states]
      const filter = { states, from, to, kind: request.kind }
      const matched = yield* ledger.countReplayable(filter).pipe(Effect.orDie)
      if (request.dryRun === true) return BulkReplayResult.make({ matched, replayed: 0, published: 0, dryRun: true })
      let replayed = 0
      let published = 0
      // After the first command the queue refuses, the rest are left to the sweeper too, rather
      // than each waiting for its own failure (up to the publish timeout).
      let queueDown = false
      const publishUnlessDown = (row: ReplayedRow) =>
        queueDown ? Effect.succeed(false) : Effect.tap(publish(row), (ok) => {
          queueDown ||= !ok
        })
      // Bounded batches, oldest first, one statement each; repeat while a batch comes back full.
      while (true) {
        const rows = yield* ledger.replayBatch(filter, yield* now, windowMs, bulkBatch).pipe(
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
        const outcomes = yield* Effect.forEach(rows, publishUnlessDown, { concurrency: 64 })
        published += outcomes.filter(Boolean).length
        replayed += rows.length
        if (rows.length < bulkBatch) break
      }
      yield* Effect.logInfo(`Replayed ${replayed} deliveries in bulk, ${published} published at once`)
      return BulkReplayResult.make({ matched, replayed, published, dryRun: false })
    })

    return { replayOne, replayBulk }
  }),
  dependencies: [DeliveryCommandPublisher.layer, DeliveryLedger.layer, AuditLog.Default]
}) {}
