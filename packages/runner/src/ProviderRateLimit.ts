import { breakerRecordSeconds } from "@birthday/domain"
import { maintenanceRound } from "@birthday/telemetry/Observability"
import { SqlClient } from "@effect/sql"
import { Clock, Context, Duration, Effect, Layer, Metric, Schedule } from "effect"
import { DeliverySettings } from "./DeliveryConfig.js"

/** The shortest pause a 429 causes: `Retry-After: 0` must not turn into a hot loop. */
export const retryAfterFloorMs = 250

/** Provider requests per second this runner allows itself now (after its share and any 429s). */
export const providerRateGauge = Metric.gauge("delivery_provider_rate", {
  description:
    "Provider requests per second this runner allows itself (its share of PROVIDER_RATE_LIMIT, lowered by 429s; 0: unlimited)"
})

/**
 * The provider's pace as one runner keeps it, in plain code for the send path: a GCRA limit at
 * `rate / runners` requests per second with a burst, a pause that a 429 imposes on every request
 * (not only the one that got it), and a ceiling that each 429 cuts by 30% and that recovers by
 * 10% a second without one. With no configured rate (0) only the 429 ceiling applies, starting from
 * the rate observed when the first 429 came. Time is the caller's (the clock's milliseconds).
 */
export class ProviderPace {
  private tat = 0
  private pausedUntil = 0
  private share = 1
  /** The 429 ceiling in requests per second (`Infinity`: none). */
  private ceiling = Infinity
  private ceilingAt = 0
  private windowStart = 0
  private windowCount = 0
  private observed = 0

  constructor(private readonly rate: number, private readonly burst: number) {}

  /** Requests per second allowed now (`Infinity`: unlimited). */
  get allowed(): number {
    const own = this.rate > 0 ? this.rate / this.share : Infinity
    return Math.min(own, this.ceiling)
  }

  /** This runner's share: the limit is divided among `runners` live runners. */
  setRunners(runners: number): void {
    this.share = Math.max(1, runners)
  }

  /** Reserves the next slot at `at` and returns how many milliseconds to wait before using it. */
  reserve(at: number): number {
    this.recover(at)
    this.count(at)
    const start = Math.max(at, this.pausedUntil)
    const rate = this.allowed
    if (!Number.isFinite(rate)) return start - at
    const interval = 1000 / rate
    const next = Math.max(this.tat, start) + interval
    this.tat = next
    return Math.max(start - at, next - interval * this.burst - at)
  }

  /**
   * How many requests could start within `horizonMs` of `at` (`Infinity` when unlimited), so that
   * nothing is claimed only to wait behind the limit.
   */
  capacity(at: number, horizonMs: number): number {
    this.recover(at)
    const start = Math.max(at, this.pausedUntil)
    if (start - at > horizonMs) return 0
    const rate = this.allowed
    if (!Number.isFinite(rate)) return Infinity
    const interval = 1000 / rate
    const free = (at + horizonMs + interval * this.burst - Math.max(this.tat, start)) / interval
    return Math.max(0, Math.floor(free))
  }

  /** Milliseconds until a request could start without waiting (0: now). */
  waitTime(at: number): number {
    const start = Math.max(at, this.pausedUntil)
    const rate = this.allowed
    if (!Number.isFinite(rate)) return start - at
    const interval = 1000 / rate
    return Math.max(start - at, this.tat + interval - interval * this.burst - at)
  }

  /** A 429 at `at`: every request waits `retryAfterMs` (at least the floor), and the rate drops by 30%. */
  throttled(at: number, retryAfterMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, at + Math.max(retryAfterFloorMs, retryAfterMs))
    // Several requests in flight get their 429 together: one cut per quarter second.
    if (at - this.ceilingAt < 250 && Number.isFinite(this.ceiling)) return
    const from = Number.isFinite(this.allowed) ? this.allowed : Math.max(1, this.observedAt(at))
    this.ceiling = Math.max(1, from * 0.7)
    this.ceilingAt = at
  }

  private recover(at: number) {
    if (!Number.isFinite(this.ceiling) || at <= this.pausedUntil) return
    const seconds = (at - Math.max(this.ceilingAt, this.pausedUntil)) / 1000
    if (seconds < 1) return
    const next = this.ceiling * Math.pow(1.1, seconds)
    const own = this.rate > 0 ? this.rate / this.share : Math.max(1, this.observed) * 4
    this.ceiling = next >= own ? Infinity : next
    this.ceilingAt = at
  }

  /** Requests per second reserved lately: the last full second, or the current one so far if faster. */
  private observedAt(at: number) {
    const elapsed = at - this.windowStart
    return elapsed >= 100 ? Math.max(this.observed, (this.windowCount * 1000) / elapsed) : this.observed
  }

  private count(at: number) {
    if (at - this.windowStart >= 1000) {
      this.observed = (this.windowCount * 1000) / Math.max(1000, at - this.windowStart)
      this.windowStart = at
      this.windowCount = 0
    }
    this.windowCount++
  }
}

/**
 * The provider's rate limit, a property of the provider shared by every runner:
 * `PROVIDER_RATE_LIMIT` divided by the live delivery runners (those that recorded their breaker
 * for this provider in the last three record intervals), with `PROVIDER_RATE_BURST`, and slowed
 * for everyone by a 429. Callers wait for their slot (first come, first served), so a catch-up
 * backlog drains at the provider's pace in the order the stream hands it out: oldest first.
 */
export class ProviderRateLimit extends Context.Tag("@birthday/runner/ProviderRateLimit")<ProviderRateLimit, {
  /**
   * Reserves the next slot at `at` (the clock's milliseconds) and returns how many milliseconds
   * to wait before using it; synchronous, for the send path, which makes no fiber per message.
   */
  readonly reserve: (at: number) => number
  /** How many requests could start within `horizonMs`: the most worth claiming now. */
  readonly capacity: (at: number, horizonMs: number) => number
  /** Milliseconds until a request could start without waiting. */
  readonly waitTime: (at: number) => number
  /** The provider answered 429: slow every request down. */
  readonly throttled: (at: number, retryAfter: Duration.Duration) => void
  /** Divides the configured rate among `runners`. */
  readonly setRunners: (runners: number) => void
  readonly allowed: () => number
}>() {
  static readonly layer = Layer.effect(
    ProviderRateLimit,
    Effect.gen(function*() {
      const { providerRateBurst, providerRateLimit } = yield* DeliverySettings
      const pace = new ProviderPace(providerRateLimit, providerRateBurst)
      return {
        reserve: (at) => pace.reserve(at),
        capacity: (at, horizonMs) => pace.capacity(at, horizonMs),
        waitTime: (at) => pace.waitTime(at),
        throttled: (at, retryAfter) => pace.throttled(at, Duration.toMillis(retryAfter)),
        setRunners: (runners) => pace.setRunners(runners),
        allowed: () => pace.allowed
      }
    })
  )

  /**
   * Keeps this runner's share current from `provider_breakers`, which every delivery runner
   * rewrites every `breakerRecordSeconds` (scheduler-only runners write none). Why a division
   * and not a token bucket in Postgres: no round trip or hot row on the send path, and the error
   * is bounded and short: for one record interval after a runner joins the sum may pass the limit
   * by one share (the provider's 429s then slow everyone), and after one dies the rest send below
   * it until its row goes stale (three intervals).
   */
  static readonly shareLive = Layer.scopedDiscard(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const settings = yield* DeliverySettings
      const limit = yield* ProviderRateLimit
      const gauge = providerRateGauge.pipe(Metric.tagged("provider", settings.providerName))
      const staleMs = 3 * breakerRecordSeconds * 1000
      const refresh = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const [row] = yield* sql<{ runners: number }>`
          SELECT count(*)::int AS runners FROM provider_breakers
          WHERE provider = ${settings.providerName} AND updated_at > ${new Date(now - staleMs)}`
        limit.setRunners(row?.runners ?? 1)
        const allowed = limit.allowed()
        yield* Metric.set(gauge, Number.isFinite(allowed) ? allowed : 0)
      }).pipe(
        Effect.tapErrorCause((cause) => Effect.logWarning("Reading the live delivery runners failed", cause)),
        Effect.ignore,
        Effect.withSpan("ProviderRateLimit.refreshShare"),
        maintenanceRound
      )
      yield* Effect.forkScoped(Effect.repeat(refresh, Schedule.spaced(Duration.seconds(breakerRecordSeconds))))
    })
  )
}
