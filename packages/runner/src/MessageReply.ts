import { Duration, Effect, Metric } from "effect"
import type { JsMsg } from "nats"
import { ackFailures } from "./DeliveryMetrics.js"

// A failed reply is never fatal: the message comes back after ack_wait and the ledger guard makes
// the second delivery a no-op (or a resend under the same Idempotency-Key). It is logged and counted.
const failed = (what: string, msg: JsMsg) => (cause: unknown) =>
  Effect.zipRight(
    Effect.logWarning(`JetStream ${what} failed; the message will be redelivered`, cause).pipe(
      Effect.annotateLogs({ subject: msg.subject, seq: msg.seq })
    ),
    Metric.increment(ackFailures)
  )

/** Acknowledges and waits for the server's confirmation. */
export const ack = (msg: JsMsg): Effect.Effect<void> =>
  Effect.tryPromise(() => msg.ackAck({ timeout: 5_000 })).pipe(
    Effect.flatMap((confirmed) => confirmed ? Effect.void : Effect.fail(new Error("ack not confirmed"))),
    Effect.catchAll(failed("ack", msg))
  )

/** Asks for redelivery after `delay`. */
export const nak = (msg: JsMsg, delay: Duration.Duration): Effect.Effect<void> =>
  Effect.try(() => msg.nak(Math.max(1, Math.ceil(Duration.toMillis(delay))))).pipe(Effect.catchAll(failed("nak", msg)))

/** Stops redelivery of a message that can never be processed. */
export const term = (msg: JsMsg, reason: string): Effect.Effect<void> =>
  Effect.try(() => msg.term(reason)).pipe(Effect.catchAll(failed("term", msg)))
