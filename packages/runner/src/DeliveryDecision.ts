import type { ClaimedOccurrence, Outcome } from "@birthday/ledger/DeliveryLedger"
import { Duration } from "effect"
import type { BreakerOpen } from "./CircuitBreaker.js"
import type { DeliveryConfig } from "./DeliveryConfig.js"
import type { RetryDelay } from "./DeliveryRetry.js"
import type { SendOutcome } from "./EmailClient.js"
import { retryAfterFloorMs } from "./ProviderRateLimit.js"

/**
 * A send the worker did not make after all, decided right before the provider call: its deadline
 * passed while it waited (rate limit, a free slot), or this worker can no longer be sure it holds
 * the lease (renewals failed, or the process was paused past it) — another worker may own it now.
 */
export interface SendWithheld {
  readonly _tag: "Withheld"
  readonly reason: "deadline" | "lease"
}

/** What the worker tells JetStream once the outcome is written. */
export type Reply =
  | { readonly _tag: "Ack" }
  | { readonly _tag: "Nak"; readonly delay: Duration.Duration }

/** The ledger outcome of one claimed occurrence and the reply to its message. */
export interface Decision {
  readonly outcome: Outcome
  readonly reply: Reply
}

const ackReply: Reply = { _tag: "Ack" }

const settled = (
  occurrence: ClaimedOccurrence,
  times: { readonly startedAt: Date; readonly finishedAt: Date },
  state: Outcome["state"],
  outcome: string,
  status: number | null,
  error: string | null,
  reply: Reply
): Decision => ({
  outcome: {
    key: occurrence.key,
    leaseToken: occurrence.leaseToken,
    startedAt: times.startedAt,
    finishedAt: times.finishedAt,
    state,
    attempted: true,
    outcome,
    status,
    error,
    nextAttemptAt: nextAttempt(times, reply)
  },
  reply
})

/** A redelivery's time, recorded so the ledger's sweeper knows when the retry is owed. */
const nextAttempt = (times: { readonly finishedAt: Date }, reply: Reply) =>
  reply._tag === "Nak" ? new Date(times.finishedAt.getTime() + Duration.toMillis(reply.delay)) : undefined

/**
 * Turns a provider result into a ledger transition: 2xx sent; permanent 4xx dead at once;
 * transient failures (and ambiguous ones under the `retry` policy) retried after the named
 * schedule's delay unless attempts or the deadline run out; an open circuit defers the message
 * without using an attempt. Pure: `random` (uniform in [0, 1)) jitters the retry delay.
 */
export const decide = (
  occurrence: ClaimedOccurrence,
  result: SendOutcome | BreakerOpen | SendWithheld,
  times: { readonly startedAt: Date; readonly finishedAt: Date },
  settings: Pick<DeliveryConfig, "maxAttempts" | "ambiguousPolicy">,
  retry: RetryDelay,
  random: number
): Decision => {
  if (result._tag === "Sent") return settled(occurrence, times, "sent", "sent", result.status, null, ackReply)
  const settle = (
    state: Outcome["state"],
    outcome: string,
    status: number | null,
    error: string | null,
    reply: Reply = ackReply
  ) => settled(occurrence, times, state, outcome, status, error, reply)
  switch (result._tag) {
    case "BreakerOpen":
      return unattempted(occurrence, times, "deferred", result.retryIn)
    case "Withheld":
      // Past the deadline this is `dead` (never sent late); a lost lease goes back unattempted
      // (the write is refused anyway when another worker claimed it meanwhile).
      return unattempted(
        occurrence,
        times,
        "released",
        Duration.zero,
        result.reason === "deadline" ? "deadline passed before the send" : "lease no longer held at the send"
      )
    case "RateLimited":
      // The provider's throttle slows the whole client (ProviderRateLimit); the message waits
      // without using an attempt, however many 429s it meets before its deadline.
      return unattempted(
        occurrence,
        times,
        "throttled",
        Duration.max(result.retryAfter, Duration.millis(retryAfterFloorMs)),
        result.error
      )
    case "Permanent":
      return settle("dead", "permanent", result.status, result.error)
    case "Ambiguous":
      if (settings.ambiguousPolicy === "stop") return settle("ambiguous", "ambiguous", null, result.error)
  }
  const status = result._tag === "Transient" ? result.status : null
  const kind = result._tag === "Transient" ? "transient" : "ambiguous"
  const attempt = occurrence.attempts + 1
  if (attempt >= settings.maxAttempts) {
    return settle("dead", kind, status, `${result.error} (gave up after ${attempt} attempts)`)
  }
  const delay = retry(attempt, random)
  if (times.finishedAt.getTime() + Duration.toMillis(delay) > occurrence.deadlineAt.getTime()) {
    return settle("dead", kind, status, `${result.error} (deadline ${occurrence.deadlineAt.toISOString()} reached)`)
  }
  return settle("retrying", kind, status, result.error, { _tag: "Nak", delay })
}

/**
 * Back to its claimable state without using an attempt, its message redelivered after `delay`;
 * dead instead when that would pass its deadline (it was waited for, never given up early).
 */
const unattempted = (
  occurrence: ClaimedOccurrence,
  times: { readonly startedAt: Date; readonly finishedAt: Date },
  outcome: "deferred" | "released" | "throttled",
  delay: Duration.Duration,
  error: string | null = null
): Decision =>
  times.finishedAt.getTime() + Duration.toMillis(delay) > occurrence.deadlineAt.getTime()
    ? {
      outcome: {
        key: occurrence.key,
        leaseToken: occurrence.leaseToken,
        startedAt: times.startedAt,
        finishedAt: times.finishedAt,
        state: "dead",
        attempted: false,
        outcome: "deadline",
        status: null,
        error: `${outcome} past its deadline ${occurrence.deadlineAt.toISOString()}${error ? ` (${error})` : ""}`
      },
      reply: ackReply
    }
    : {
      outcome: {
        key: occurrence.key,
        leaseToken: occurrence.leaseToken,
        startedAt: times.startedAt,
        finishedAt: times.finishedAt,
        // A throttled row is `retrying` (no attempt used) so that the ledger's sweeper waits for
        // its `next_attempt_at`: a long Retry-After is not undercut by a republish.
        state: occurrence.attempts > 0 || outcome === "throttled" ? "retrying" : "enqueued",
        attempted: false,
        outcome,
        status: null,
        error,
        nextAttemptAt: new Date(times.finishedAt.getTime() + Duration.toMillis(delay))
      },
      reply: { _tag: "Nak", delay }
    }

/**
 * A stale `sending` row reclaimed under `DELIVERY_AMBIGUOUS_POLICY=stop`: the holder whose lease
 * ran out may have sent it, so it is not sent again but recorded ambiguous.
 */
export const abandonedSend = (
  occurrence: ClaimedOccurrence,
  times: { readonly startedAt: Date; readonly finishedAt: Date }
): Decision => {
  const decision = settled(
    occurrence,
    times,
    "ambiguous",
    "ambiguous",
    null,
    "reclaimed after a lease ran out: the earlier send may have gone out",
    ackReply
  )
  return { ...decision, outcome: { ...decision.outcome, attempted: false } }
}

/**
 * A claimed occurrence given back unsent because the worker is stopping: back to its claimable
 * state (no attempt used) and redelivered at once, to whichever worker is still running.
 */
export const released = (
  occurrence: ClaimedOccurrence,
  times: { readonly startedAt: Date; readonly finishedAt: Date }
): Decision => unattempted(occurrence, times, "released", Duration.zero)
