import { Effect } from "effect"
import type { JsMsg } from "nats"
import { countAttempt, countOutcome, countStale, recordLateness } from "./DeliveryMetrics.js"
import { nakMillis, replyFailed } from "./MessageReply.js"

/**
 * What one batch's replies add to the metrics and logs, applied once per batch: the replies
 * themselves are synchronous (`ack`/`nak` only queue a protocol line).
 */
export interface ReplyTally {
  readonly at: number
  readonly count: (into: "attempts" | "outcomes" | "stale", kind: string, label: string) => void
  readonly lateness: (kind: string, seconds: number) => void
  /** Runs `reply`; a throw is logged and counted at the flush (the message comes back). */
  readonly answer: (msg: JsMsg, what: string, reply: () => void) => void
  readonly ack: (msg: JsMsg) => void
  /** Asks for redelivery after `delayMs`. */
  readonly nak: (msg: JsMsg, delayMs: number) => void
  /** Something to log at the flush. */
  readonly later: (effect: Effect.Effect<void>) => void
  readonly flush: Effect.Effect<void>
}

/**
 * A tally for replies made at `at`; every message answered through it is `release`d (no longer
 * kept alive by the consumer's heartbeat).
 */
export const replyTally = (at: number, release: (msg: JsMsg) => void): ReplyTally => {
  const counts = {
    attempts: new Map<string, number>(),
    outcomes: new Map<string, number>(),
    stale: new Map<string, number>()
  }
  const lateness: Array<readonly [string, number]> = []
  const later: Array<Effect.Effect<void>> = []
  const split = (id: string) => id.split("\u0000") as [string, string]
  const answer = (msg: JsMsg, what: string, reply: () => void) => {
    release(msg)
    try {
      reply()
    } catch (cause) {
      later.push(replyFailed(what, msg)(cause))
    }
  }
  return {
    at,
    count: (into, kind, label) => {
      const id = `${kind}\u0000${label}`
      counts[into].set(id, (counts[into].get(id) ?? 0) + 1)
    },
    lateness: (kind, seconds) => lateness.push([kind, seconds]),
    answer,
    ack: (msg) => answer(msg, "ack", () => msg.ack()),
    nak: (msg, delayMs) => answer(msg, "nak", () => msg.nak(nakMillis(delayMs))),
    later: (effect) => later.push(effect),
    flush: Effect.suspend(() =>
      Effect.all([
        Effect.forEach(counts.attempts, ([id, n]) => countAttempt(...split(id), n), { discard: true }),
        Effect.forEach(counts.outcomes, ([id, n]) => countOutcome(...split(id), n), { discard: true }),
        Effect.forEach(counts.stale, ([id, n]) => countStale(...split(id), n), { discard: true }),
        Effect.forEach(lateness, ([kind, seconds]) => recordLateness(kind, seconds), { discard: true }),
        Effect.all(later, { discard: true })
      ], { discard: true })
    )
  }
}
