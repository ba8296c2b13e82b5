import { deliveryCommandOfRow } from "@birthday/domain"
import { DeliveryLedger } from "@birthday/ledger/DeliveryLedger"
import { maintenanceRound } from "@birthday/telemetry/Observability"
import { Duration, Effect, Layer, Schedule } from "effect"
import { DeliverySettings } from "./DeliveryConfig.js"
import { Nats } from "./Nats.js"
import { commandPayload } from "./TraceHeaders.js"

/**
 * The ledger's sweeper: Postgres is the source of truth, so no open occurrence may be left without
 * a message that brings it to a worker. `DeliveryLedger.sweep` takes the rows whose message may be
 * missing (enqueued and unclaimed for two ack waits: a publish that failed, a bulk replay cut off
 * half-way; retrying past its next attempt; sending past its lease) and each is published again at
 * its current version. The guarded touch lets one runner take each row; the versioned claim and the
 * `Idempotency-Key` keep a surplus copy from sending twice.
 */
export const RetrySweeperLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const ledger = yield* DeliveryLedger
    const { jetstream, names } = yield* Nats
    const settings = yield* DeliverySettings
    // Ages on a basis of at least 30 s: with a short ack wait (the messages are kept alive while
    // they wait) an enqueued row unclaimed for two ack waits is usually waiting its turn in the
    // stream, not missing; a sending row past its lease is redelivered by the broker first.
    const ackWaitMs = Math.max(Duration.toMillis(settings.ackWait), 30_000)
    const ages = {
      enqueuedMs: 2 * ackWaitMs,
      retryingMs: 2 * ackWaitMs,
      sendingMs: Math.max(ackWaitMs, 2 * Duration.toMillis(settings.lease)),
      limit: 500
    }

    const sweep = Effect.gen(function*() {
      const now = new Date(yield* Effect.clockWith((clock) => clock.currentTimeMillis))
      const rows = yield* ledger.sweep(now, ages)
      yield* Effect.forEach(rows, (row) =>
        Effect.tryPromise(() =>
          jetstream.publish(
            names.deliverySubject(row.kind),
            commandPayload(deliveryCommandOfRow(row)),
            // Outside the dedupe window of the original key; the ledger dedupes instead.
            { msgID: `${row.key}:v${row.version}:sweep:${now.getTime()}` }
          )
        ), { concurrency: 16, discard: true })
      if (rows.length > 0) {
        const states = rows.reduce<Record<string, number>>(
          (n, row) => ({ ...n, [row.state]: (n[row.state] ?? 0) + 1 }),
          {}
        )
        yield* Effect.logWarning(`Republished ${rows.length} occurrence(s) whose message may be missing`, states)
      }
    }).pipe(Effect.withSpan("RetrySweeper.sweep"), maintenanceRound)

    yield* sweep.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("Ledger sweep failed; trying again", cause)),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(1000, Math.floor(ackWaitMs / 2))))),
      Effect.forkScoped
    )
  })
)
