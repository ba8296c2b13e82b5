import {
  type BulkReplayRequest,
  BulkReplayResult,
  deliveryCommandOfRow,
  DeliveryNotFound,
  DeliveryNotReplayable,
  DeliveryQueryInvalid,
  type LedgerState,
  ReplayResult,
  ReplayUnavailable
} from "@birthday/domain"
import { DeliveryLedger, type ReplayedRow } from "@birthday/ledger/DeliveryLedger"
import { SqlClient } from "@effect/sql"
import { DateTime, Duration, Effect } from "effect"
import { DeliveryCommandPublisher } from "./DeliveryCommandPublisher.js"

const bulkBatch = 500

/**
 * Replays: the ledger's guarded `replay` transition (`dead | ambiguous | expired → enqueued`,
 * version+1, attempts reset, deadline extended by the replay window) and a re-published command
 * at the new version under `{key}:replay:{n}`, so the
 * JetStream dedupe window does not drop it. At most one send still holds: the worker claims only
 * `enqueued`/`retrying` rows and the provider sees the same `Idempotency-Key`. A row left
 * `enqueued` by a failed publish can be replayed again (single replay accepts `enqueued`).
 */
export class DeliveryReplay extends Effect.Service<DeliveryReplay>()("@birthday/server/DeliveryReplay", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ledger = yield* DeliveryLedger
    const publisher = yield* DeliveryCommandPublisher
    const windowMs = Duration.toMillis(publisher.replayWindow)
    const now = Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (ms) => new Date(ms))

    const publish = (row: ReplayedRow) =>
      publisher.publish(deliveryCommandOfRow(row), `${row.key}:replay:${row.replays}`).pipe(
        Effect.mapError((error) => new ReplayUnavailable({ message: error.message }))
      )

    const replayOne = Effect.fn("DeliveryReplay.replayOne")(function*(key: string) {
      const at = yield* now
      const [row] = yield* ledger.replayOne(key, at, windowMs).pipe(Effect.orDie)
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

    const replayBulk = Effect.fn("DeliveryReplay.replayBulk")(function*(request: BulkReplayRequest) {
      const from = DateTime.toDateUtc(request.from)
      const to = DateTime.toDateUtc(request.to)
      if (from.getTime() >= to.getTime()) {
        return yield* new DeliveryQueryInvalid({ message: "from must be before to" })
      }
      const states = request.states === undefined || request.states.length === 0 ? ["dead"] : [...request.states]
      const filter = { states, from, to, kind: request.kind }
      const matched = yield* ledger.countReplayable(filter).pipe(Effect.orDie)
      if (request.dryRun === true) return BulkReplayResult.make({ matched, replayed: 0, dryRun: true })
      let replayed = 0
      // Bounded batches, oldest first, one statement each; repeat while a batch comes back full.
      while (true) {
        const rows = yield* ledger.replayBatch(filter, yield* now, windowMs, bulkBatch).pipe(Effect.orDie)
        yield* Effect.forEach(rows, publish, { concurrency: 64, discard: true })
        replayed += rows.length
        if (rows.length < bulkBatch) break
      }
      yield* Effect.logInfo(`Replayed ${replayed} deliveries in bulk`)
      return BulkReplayResult.make({ matched, replayed, dryRun: false })
    })

    return { replayOne, replayBulk }
  }),
  dependencies: [DeliveryCommandPublisher.layer, DeliveryLedger.layer]
}) {}
