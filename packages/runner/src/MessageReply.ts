import { Duration, Effect, Metric } from "effect"
import type { JsMsg } from "nats"
import { ackFailures } from "./DeliveryMetrics.js"

// A failed reply is never fatal: the message comes back after ack_wait and the ledger guard makes
// the second delivery a no-op (or a resend under the same Idempotency-Key). It is logged and counted.
export const replyFailed = (what: string, msg: JsMsg) => (cause: unknown) =>
  Effect.zipRight(
    Effect.logWarning(`JetStream ${what} failed; the message will be redelivered`, cause).pipe(
      Effect.annotateLogs({ subject: msg.subject, seq: msg.seq })
    ),
    Metric.increment(ackFailures)
  )

/**
 * Acknowledges without waiting for the server's confirmation: a lost ack only brings the message
 * back, and the ledger makes that delivery a no-op. (A confirmed ack is a request with its own
 * reply subject, timer and promise per message: a third of the NATS client's cost in the worker.)
 */
export const ack = (msg: JsMsg): Effect.Effect<void> =>
  Effect.try(() => msg.ack()).pipe(Effect.catchAll(replyFailed("ack", msg)))

/** Asks for redelivery after `delay`. */
export const nak = (msg: JsMsg, delay: Duration.Duration): Effect.Effect<void> =>
  Effect.try(() => msg.nak(Math.max(1, Math.ceil(Duration.toMillis(delay))))).pipe(
    Effect.catchAll(replyFailed("nak", msg))
  )

/** Stops redelivery of a message that can never be processed. */
export const term = (msg: JsMsg, reason: string): Effect.Effect<void> =>
  Effect.try(() => msg.term(reason)).pipe(Effect.catchAll(replyFailed("term", msg)))
