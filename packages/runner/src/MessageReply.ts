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

/** A nak's redelivery delay as JetStream takes it: whole milliseconds, at least one (0 means none). */
export const nakMillis = (delayMs: number): number => Math.max(1, Math.ceil(delayMs))

/** Asks for redelivery after `delay`. */
export const nak = (msg: JsMsg, delay: Duration.Duration): Effect.Effect<void> =>
  Effect.try(() => msg.nak(nakMillis(Duration.toMillis(delay)))).pipe(Effect.catchAll(replyFailed("nak", msg)))
