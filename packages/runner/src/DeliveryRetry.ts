import { Chunk, Duration, Effect, Option, Schedule } from "effect"
import type { DeliveryConfig } from "./DeliveryConfig.js"

/**
 * The retry backoff of a transient delivery failure before jitter: exponential from `retryBase`
 * by `retryFactor`, capped at `retryCap`. The worker applies it by delayed redelivery
 * (`nak(delay)`), never by sleeping in a loop, and bounds it by the deadline and `maxAttempts`.
 */
export const deliveryBackoff = (settings: Pick<DeliveryConfig, "retryBase" | "retryFactor" | "retryCap">) =>
  Schedule.exponential(settings.retryBase, settings.retryFactor).pipe(
    Schedule.union(Schedule.spaced(settings.retryCap))
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

/** The delay before retry `attempt` (1-based), given a uniform random number in [0, 1). */
export type RetryDelay = (attempt: number, random: number) => Duration.Duration

/**
 * The named retry policy, `deliveryBackoff` jittered like `Schedule.jittered` (each delay times a
 * uniform factor in [0.8, 1.2)), with the backoff's delays computed once for every attempt a
 * message can have: the send path looks one up instead of running a schedule per failure.
 */
export const deliveryRetry = (
  settings: Pick<DeliveryConfig, "retryBase" | "retryFactor" | "retryCap" | "maxAttempts">
): Effect.Effect<RetryDelay> =>
  Effect.map(
    Effect.forEach(
      Array.from({ length: settings.maxAttempts }, (_, i) => i + 1),
      (n) => Effect.map(nthDelay(deliveryBackoff(settings), n), Duration.toMillis)
    ),
    (delays) => (attempt, random) =>
      Duration.millis(delays[Math.min(Math.max(1, attempt), delays.length) - 1]! * (0.8 + 0.4 * random))
  )
