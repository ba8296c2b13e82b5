import { Clock, Config, ConfigError, Duration, Effect, Either, Layer } from "effect"

/**
 * `CLOCK_OFFSET` (test-only): this process's wall clock runs that far ahead ("30 seconds") or
 * behind ("-30 seconds") of the machine's, to try what clock skew between hosts does. Sleeps are
 * unchanged; only what `Clock.currentTimeMillis` answers moves.
 */
export const ClockOffsetConfig = Config.string("CLOCK_OFFSET").pipe(
  Config.withDefault("0 millis"),
  Config.mapOrFail((text) => {
    const trimmed = text.trim()
    const negative = trimmed.startsWith("-")
    const magnitude = Duration.decodeUnknown(negative ? trimmed.slice(1).trim() : trimmed)
    return magnitude._tag === "Some"
      ? Either.right((negative ? -1 : 1) * Duration.toMillis(magnitude.value))
      : Either.left(
        ConfigError.InvalidData([], `CLOCK_OFFSET must be a duration such as "30 seconds" or "-2 seconds", got ${text}`)
      )
  }),
  Config.withDescription("Test only: how far this process's clock runs ahead of the machine's (negative: behind)")
)

/** The default clock shifted by `offsetMillis`. */
export const offsetClock = (offsetMillis: number): Clock.Clock => {
  const base = Clock.make()
  const offsetNanos = BigInt(Math.round(offsetMillis * 1_000_000))
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => base.unsafeCurrentTimeMillis() + offsetMillis,
    currentTimeMillis: Effect.sync(() => base.unsafeCurrentTimeMillis() + offsetMillis),
    unsafeCurrentTimeNanos: () => base.unsafeCurrentTimeNanos() + offsetNanos,
    currentTimeNanos: Effect.sync(() => base.unsafeCurrentTimeNanos() + offsetNanos),
    sleep: (duration) => base.sleep(duration)
  }
}

/** Installs the offset clock when `CLOCK_OFFSET` is set (nothing otherwise). */
export const OffsetClockLive = Layer.unwrapEffect(
  Effect.map(
    Effect.orDie(ClockOffsetConfig),
    (offset) => offset === 0 ? Layer.empty : Layer.setClock(offsetClock(offset))
  )
)
