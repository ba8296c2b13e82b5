/**
 * The fault model: which faults are configured, how a partial update changes them, and what
 * happens to one request. Pure: time and randomness come in as arguments.
 */
import { Schema } from "effect"
import type { SeededRandom } from "./SeededRandom.js"

const Rate = Schema.Number.pipe(Schema.between(0, 1))
const Millis = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/** The faults the simulator injects; rates are probabilities in [0, 1]. */
export const FaultSettings = Schema.Struct({
  /** Share of requests answered 500 or 503. */
  errorRate: Rate,
  /** Share of requests that hang (see `hangMs`). */
  timeoutRate: Rate,
  /** Share of requests answered 429 with `Retry-After`. */
  rateLimitRate: Rate,
  /** Fixed delay before every answer. */
  latencyMs: Millis,
  /** Extra uniform random delay in [0, latencyJitterMs). */
  latencyJitterMs: Millis,
  /**
   * Extra delay per request already waiting for its answer: latency grows with the load, as a
   * provider's does when it queues (256 in flight at 30 ms each: 7.7 s).
   */
  latencyPerRequestMs: Millis,
  /** 0: no limit; else requests per second above which the provider answers 429 (a real rate limit). */
  rateLimitPerSecond: Millis,
  /** Seconds sent in `Retry-After` on a 429. */
  retryAfterSeconds: Millis,
  /** 0: a hung request is never answered; otherwise it is answered 504 after this many ms. */
  hangMs: Millis
})
/** The faults the simulator injects. */
export type FaultSettings = typeof FaultSettings.Type

/**
 * An outage change: `{ off: true }` ends it, `{ forMs }` or `{ untilMs }` (epoch ms) bounds it,
 * and `{}` starts one until further notice.
 */
export const OutagePatch = Schema.Struct({
  off: Schema.optional(Schema.Boolean),
  forMs: Schema.optional(Millis),
  untilMs: Schema.optional(Millis)
})
/** An outage change. */
export type OutagePatch = typeof OutagePatch.Type

/** A partial update of the faults, as accepted by `PUT /admin/config`. */
export const FaultPatch = Schema.extend(
  Schema.partial(FaultSettings),
  Schema.Struct({
    /** Re-seeds the PRNG so the fault sequence restarts reproducibly. */
    seed: Schema.optional(Schema.Number.pipe(Schema.int())),
    outage: Schema.optional(OutagePatch)
  })
)
/** A partial update of the faults. */
export type FaultPatch = typeof FaultPatch.Type

/** No outage is in force. */
export const noOutage = 0

/** The epoch ms at which an outage set by `patch` at `now` ends (`Infinity`: until further notice). */
export const outageUntil = (patch: OutagePatch, now: number): number =>
  patch.off === true
    ? noOutage
    : patch.forMs !== undefined
    ? now + patch.forMs
    : patch.untilMs !== undefined
    ? patch.untilMs
    : Infinity

/**
 * A provider's own rate limit (GCRA, a burst of one second's worth): `admit` says whether a
 * request at `now` is within `perSecond`; one over it is refused and uses no capacity.
 */
export class ThrottleGate {
  private tat = 0

  admit(perSecond: number, now: number): boolean {
    if (perSecond <= 0) return true
    const interval = 1000 / perSecond
    const next = Math.max(this.tat, now) + interval
    if (next - now > 1000 + interval) return false
    this.tat = next
    return true
  }
}

/** Whether an outage ending at `until` is in force at `now`. */
export const inOutage = (until: number, now: number): boolean => now < until

/** Applies a partial update; fields that are absent keep their value. */
export const applyPatch = (settings: FaultSettings, patch: FaultPatch): FaultSettings => {
  const { outage: _outage, seed: _seed, ...fields } = patch
  const next: Record<string, number> = { ...settings }
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) next[name] = value
  }
  return next as unknown as FaultSettings
}

/** What the simulator does with one `POST /send-email`, decided when it arrives. */
export type Decision =
  | { readonly _tag: "Outage" }
  | { readonly _tag: "RateLimited"; readonly delayMs: number; readonly retryAfterSeconds: number }
  | { readonly _tag: "Failed"; readonly delayMs: number; readonly status: 500 | 503 }
  | { readonly _tag: "Hung"; readonly answerAfterMs: number }
  | { readonly _tag: "Deliver"; readonly delayMs: number }

const outage: Decision = { _tag: "Outage" }

/**
 * Decides the fate of one request. Outside an outage it always draws exactly three numbers
 * (outcome, error status, jitter), so a seed replays the same sequence whatever the rates are.
 * The rates partition one draw in the order rate limit, error, timeout; if they add up past 1
 * the later ones get what is left.
 */
export const decide = (
  settings: FaultSettings,
  outageEndsAt: number,
  now: number,
  random: SeededRandom,
  inFlight = 0
): Decision => {
  if (inOutage(outageEndsAt, now)) return outage
  const outcome = random.next()
  const statusDraw = random.next()
  const jitterDraw = random.next()
  const delayMs = settings.latencyMs + Math.floor(jitterDraw * settings.latencyJitterMs) +
    settings.latencyPerRequestMs * inFlight
  let threshold = settings.rateLimitRate
  if (outcome < threshold) {
    return { _tag: "RateLimited", delayMs, retryAfterSeconds: settings.retryAfterSeconds }
  }
  threshold += settings.errorRate
  if (outcome < threshold) return { _tag: "Failed", delayMs, status: statusDraw < 0.5 ? 500 : 503 }
  threshold += settings.timeoutRate
  if (outcome < threshold) return { _tag: "Hung", answerAfterMs: settings.hangMs }
  return { _tag: "Deliver", delayMs }
}
