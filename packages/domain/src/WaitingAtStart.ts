import { Cause, Clock, ConfigError, Effect, Layer, Schedule } from "effect"

/**
 * Whether a failure to build a layer may pass by waiting: not a malformed setting, which no wait
 * mends (an `http://` NATS_URL, a DATABASE_CONNECT_TIMEOUT of "soon"), so it fails the start.
 */
const worthWaiting = (error: unknown): boolean => !ConfigError.isConfigError(error)

/**
 * Retries building `layer` every 2 seconds while its service is unreachable at start, with one
 * log line when the wait begins and one when it ends, instead of exiting. A bad setting fails at
 * once.
 */
export const waitingAtStart = <A, E, R>(layer: Layer.Layer<A, E, R>, what: string): Layer.Layer<A, E, R> => {
  let waitingSince: number | undefined
  return layer.pipe(
    Layer.tapErrorCause((cause) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (waitingSince !== undefined || ![...Cause.failures(cause)].every(worthWaiting)) {
          return Effect.void
        }
        waitingSince = now
        return Effect.logWarning(`${what} is not reachable; waiting for it, retrying every 2 s`).pipe(
          Effect.annotateLogs({ error: Cause.pretty(cause).split("\n")[0] })
        )
      })
    ),
    Layer.retry(Schedule.spaced("2 seconds").pipe(Schedule.whileInput(worthWaiting))),
    Layer.tap(() =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        waitingSince === undefined
          ? Effect.void
          : Effect.logInfo(`${what} is reachable again after ${Math.round((now - waitingSince) / 1000)} s`))
    )
  )
}
