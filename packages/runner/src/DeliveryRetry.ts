import { Chunk, Duration, Effect, Option, Schedule } from "effect"
import type { DeliveryConfig } from "./DeliveryConfig.js"

/**
 * The retry policy of a transient delivery failure: jittered exponential backoff, capped. The
 * worker applies it by delayed redelivery (`nak(delay)`), never by sleeping in a loop, and bounds
 * it by the occurrence deadline and `maxAttempts`.
 */
export const deliveryRetry = (settings: Pick<DeliveryConfig, "retryBase" | "retryFactor" | "retryCap">) =>
  Schedule.exponential(settings.retryBase, settings.retryFactor).pipe(
    Schedule.union(Schedule.spaced(settings.retryCap)),
    Schedule.jittered
  )

/** How long the circuit stays open after its n-th consecutive opening: doubling, capped. */
export const breakerBackoff = (settings: Pick<DeliveryConfig, "breakerOpenBase" | "breakerOpenMax">) =>
  Schedule.exponential(settings.breakerOpenBase, 2).pipe(Schedule.union(Schedule.spaced(settings.breakerOpenMax)))

/** The delay a schedule gives before its `n`-th recurrence (n ≥ 1), computed without sleeping. */
export const nthDelay = <Out, R>(
  schedule: Schedule.Schedule<Out, unknown, R>,
  n: number
): Effect.Effect<Duration.Duration, never, R> =>
  Effect.map(
    Schedule.run(Schedule.delays(schedule), 0, Array.from({ length: Math.max(1, n) }, (_, i) => i)),
    (delays) => Option.getOrElse(Chunk.last(delays), () => Duration.zero)
  )
