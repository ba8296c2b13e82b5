import { ClockOffsetConfig } from "@birthday/domain"
import { Clock, Config, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import pg from "pg"
import { DatabaseUrl } from "./LedgerConfig.js"

/**
 * `CLOCK_SKEW`: for tests only. How wrong this host's wall clock is (a host whose NTP broke);
 * unlike `CLOCK_OFFSET` it is the fault that database time corrects, not a move of the whole
 * deployment in time.
 */
export const ClockSkewConfig = Config.duration("CLOCK_SKEW").pipe(
  Config.withDefault(Duration.zero),
  Config.withDescription("Tests only: how far this host's wall clock is off (database time corrects it)")
)

/** `DATABASE_TIME`: run on the database's clock (default) or on this host's own. */
export const DatabaseTimeConfig = Config.boolean("DATABASE_TIME").pipe(
  Config.withDefault(true),
  Config.withDescription("Run on Postgres' clock, so hosts whose clocks disagree agree on what is due")
)

/** One reading: how far the database's clock is ahead of this host's, and the round trip it took. */
export interface ClockReading {
  readonly aheadMs: number
  readonly roundTripMs: number
}

/** The reading with the shortest round trip (the tightest bound on the offset). */
export const bestReading = (readings: ReadonlyArray<ClockReading>): ClockReading | undefined =>
  readings.reduce<ClockReading | undefined>(
    (best, reading) => best === undefined || reading.roundTripMs < best.roundTripMs ? reading : best,
    undefined
  )

/**
 * How far back a new correction may move the clock before it steps instead of holding: a smaller
 * move is a better reading, and the clock holds still until time catches up (never backwards, so a
 * send stamped after its slice fired is never stamped before it); a larger one is a clock fault
 * being corrected.
 */
export const maxHoldMs = 1_000

/** A clock at `wall() + correction() + offsetMs` that never goes back by less than `maxHoldMs`; sleeps are the system's. */
export const correctedClock = (wall: () => number, correction: () => number, offsetMs: number): Clock.Clock => {
  const base = Clock.make()
  let last = -Infinity
  const now = () => {
    // Whole milliseconds, rounded down, as Date.now(): a reading's correction has a fraction, and
    // a time like …720.6 stamped into a Date reads …720, before a greeting due at …721 that
    // fired at it (the rolling-restart scenario's ledger check: sent_at 1 ms before due_at).
    const t = Math.floor(wall() + correction() + offsetMs)
    if (t >= last || last - t > maxHoldMs) last = t
    return last
  }
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: now,
    currentTimeMillis: Effect.sync(now),
    unsafeCurrentTimeNanos: () => BigInt(Math.round(now() * 1_000_000)),
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(now() * 1_000_000))),
    sleep: (duration) => base.sleep(duration)
  }
}

const samplesPerReading = 3
const refreshInterval = Duration.seconds(15)
/** A reading whose round trip is longer than this says little about the offset: kept out. */
const maxRoundTripMs = 1_000
/** How long the first reading may hold up start; after that the process starts on its own clock. */
const firstReadingWait = Duration.seconds(3)

/**
 * The process clock on database time. Slices fire, workers judge deadlines and the API schedules
 * by the Effect `Clock`; leases already use Postgres' `now()`. A host whose clock runs ahead would
 * fire greetings early, one behind would judge deadlines late: so every process reads how far
 * Postgres' clock is from its own (the shortest of a few round trips, every 15 s, on a connection
 * of its own) and runs on Postgres' time, and all hosts agree on what is due. `CLOCK_OFFSET`
 * (tests: the whole deployment moved in time) applies on top; `CLOCK_SKEW` (tests: a wrong host
 * clock) below. Until the first reading (at most 3 s at start) the process runs on its own clock.
 */
export const DatabaseTimeLive: Layer.Layer<never> = Layer.unwrapScoped(
  Effect.gen(function*() {
    const enabled = yield* Effect.orDie(DatabaseTimeConfig)
    const offsetMs = Duration.toMillis(yield* Effect.orDie(ClockOffsetConfig))
    const skewMs = Duration.toMillis(yield* Effect.orDie(ClockSkewConfig))
    const wall = () => Date.now() + skewMs
    if (!enabled) {
      return offsetMs === 0 && skewMs === 0 ? Layer.empty : Layer.setClock(correctedClock(wall, () => 0, offsetMs))
    }
    const url = Redacted.value(yield* Effect.orDie(DatabaseUrl))
    let correction = 0
    let read = false

    const reading = Effect.acquireUseRelease(
      Effect.tryPromise(async () => {
        const client = new pg.Client({
          connectionString: url,
          connectionTimeoutMillis: 2_000,
          query_timeout: 2_000,
          application_name: "birthday-scheduler clock"
        })
        // A connection that fails after connecting must not crash the process.
        client.on("error", () => undefined)
        await client.connect()
        return client
      }),
      (client) =>
        Effect.tryPromise(async () => {
          const readings: Array<ClockReading> = []
          for (let i = 0; i < samplesPerReading; i++) {
            const before = wall()
            const result = await client.query<{ ms: number }>(
              "SELECT extract(epoch FROM clock_timestamp()) * 1000 AS ms"
            )
            const after = wall()
            // Postgres read its clock somewhere in [before, after] of ours: the lower bound of how
            // far it is ahead keeps this clock at or behind database time (a greeting fires at
            // most a round trip late, never early), not up to half a round trip either way.
            readings.push({ aheadMs: Number(result.rows[0]!.ms) - after, roundTripMs: after - before })
          }
          return bestReading(readings)
        }),
      (client) => Effect.promise(() => client.end().catch(() => undefined))
    )

    const refresh = Effect.gen(function*() {
      const best = yield* reading
      if (best === undefined || best.roundTripMs > maxRoundTripMs) return
      const changed = Math.abs(best.aheadMs - correction)
      correction = best.aheadMs
      if (!read || changed > 1_000) {
        yield* Effect.logInfo("On database time", {
          hostClockBehindMs: Math.round(best.aheadMs),
          roundTripMs: Math.round(best.roundTripMs)
        })
      }
      read = true
    }).pipe(Effect.withSpan("DatabaseTime.refresh"))

    yield* refresh.pipe(Effect.timeout(firstReadingWait), Effect.ignore)
    yield* refresh.pipe(
      Effect.ignore,
      Effect.repeat(Schedule.spaced(refreshInterval)),
      Effect.withTracerEnabled(false),
      Effect.forkScoped
    )
    return Layer.setClock(correctedClock(wall, () => correction, offsetMs))
  })
)
