import { Clock, Config, Duration, Effect, Layer } from "effect"

/**
 * `CLOCK_OFFSET`: for tests only. Every process reads it at start and moves its Effect `Clock` that
 * far ahead, so a test can run the real processes, stop them, and start them again a year later.
 * Postgres' own `now()` (leases, the cluster's locks) is not moved: only durations are compared
 * against it.
 */
export const ClockOffsetConfig = Config.duration("CLOCK_OFFSET").pipe(
  Config.withDefault(Duration.zero),
  Config.withDescription("Tests only: how far ahead of the wall clock this process's clock runs")
)

/** A clock `offsetMs` ahead of the system clock (sleeps are unchanged). */
export const offsetClock = (offsetMs: number): Clock.Clock => {
  const base = Clock.make()
  const nanos = BigInt(Math.round(offsetMs)) * 1_000_000n
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => base.unsafeCurrentTimeMillis() + offsetMs,
    currentTimeMillis: Effect.sync(() => base.unsafeCurrentTimeMillis() + offsetMs),
    unsafeCurrentTimeNanos: () => base.unsafeCurrentTimeNanos() + nanos,
    currentTimeNanos: Effect.sync(() => base.unsafeCurrentTimeNanos() + nanos),
    sleep: (duration) => base.sleep(duration)
  }
}

/** The process clock moved by `offset`; nothing at all when it is zero. */
export const clockOffsetLayer = (offset: Duration.Duration): Layer.Layer<never> =>
  Duration.toMillis(offset) === 0 ? Layer.empty : Layer.setClock(offsetClock(Duration.toMillis(offset)))
