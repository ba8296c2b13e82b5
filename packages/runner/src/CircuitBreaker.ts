import { Context, Data, Duration, Effect, Layer, Metric, MutableRef, Runtime } from "effect"
import { DeliverySettings } from "./DeliveryConfig.js"
import { breakerBackoff, nthDelay } from "./DeliveryRetry.js"

/** The circuit is open: no call was made; try again after `retryIn`. */
export class BreakerOpen extends Data.TaggedError("BreakerOpen")<{ readonly retryIn: Duration.Duration }> {}

/** 0 closed, 1 half-open, 2 open. */
export const breakerStateGauge = Metric.gauge("delivery_breaker_state", {
  description: "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open"
})

interface Bucket {
  readonly start: number
  readonly ok: number
  readonly failed: number
}

type State =
  | { readonly _tag: "Closed"; readonly consecutive: number; readonly buckets: ReadonlyArray<Bucket> }
  | { readonly _tag: "Open"; readonly until: number; readonly openings: number }
  | { readonly _tag: "HalfOpen"; readonly openings: number }

const buckets = 10
const stateValue = { Closed: 0, HalfOpen: 1, Open: 2 } as const

/** Whether a call may go now: a normal call, the half-open probe, or the milliseconds to wait. */
export type Admission = "call" | "probe" | number

/** One provider's circuit breaker. */
export class CircuitBreaker extends Context.Tag("@birthday/runner/CircuitBreaker")<CircuitBreaker, {
  /**
   * Whether a call may go at `at` (the clock's milliseconds): half-open lets one probe through.
   * Synchronous, like `settle`, for the send path, which makes no fiber per message.
   */
  readonly admit: (at: number) => Admission
  /** The result of an admitted call: `failed` counts against the provider; `probe` if it was the probe. */
  readonly settle: (failed: boolean, probe: boolean, at: number) => void
  /** An admitted call that was not made after all (withheld): a probe's slot goes to the next caller. */
  readonly abandon: (probe: boolean, at: number) => void
  /** While open, how long until the next probe may go; zero when closed. */
  readonly waitTime: Effect.Effect<Duration.Duration>
  readonly state: Effect.Effect<"Closed" | "Open" | "HalfOpen">
}>() {
  static readonly layer = Layer.effect(
    CircuitBreaker,
    Effect.gen(function*() {
      const settings = yield* DeliverySettings
      const backoff = breakerBackoff(settings)
      const windowMs = Duration.toMillis(settings.breakerWindow)
      const bucketMs = Math.max(1, Math.floor(windowMs / buckets))
      const gauge = breakerStateGauge.pipe(Metric.tagged("provider", settings.providerName))
      const closed: State = { _tag: "Closed", consecutive: 0, buckets: [] }
      // A synchronous ref: every send reads and updates it without a fiber of its own; a state
      // change (rare) is logged and set on the gauge by a fiber forked from this layer's runtime.
      const ref = MutableRef.make<State>(closed)
      const runtime = yield* Effect.runtime<never>()
      const now = Effect.clockWith((clock) => clock.currentTimeMillis)
      yield* Metric.set(gauge, 0)

      const changed = (from: State, to: State, reason: string) => {
        if (from._tag === to._tag) return
        Runtime.runFork(runtime)(Effect.zipRight(
          Metric.set(gauge, stateValue[to._tag]),
          Effect.logWarning(`Circuit breaker ${from._tag} → ${to._tag}: ${reason}`).pipe(
            Effect.annotateLogs({ provider: settings.providerName })
          )
        ))
      }

      // The open periods the schedule gives for the 1st..nth opening in a row, computed once.
      const openDelays = yield* Effect.forEach(
        Array.from({ length: 16 }, (_, i) => i + 1),
        (n) => Effect.map(nthDelay(backoff, n), Duration.toMillis)
      )
      const open = (openings: number, at: number): State => ({
        _tag: "Open",
        until: at + openDelays[Math.min(openings, openDelays.length) - 1],
        openings
      })

      const admit = (at: number): Admission => {
        const state = MutableRef.get(ref)
        if (state._tag === "Closed") return "call"
        if (state._tag === "HalfOpen") return Duration.toMillis(settings.breakerOpenBase)
        if (at < state.until) return state.until - at
        // Only one caller makes the Open → HalfOpen step (this runs to completion): it carries the probe.
        const next: State = { _tag: "HalfOpen", openings: state.openings }
        MutableRef.set(ref, next)
        changed(state, next, "probing the provider")
        return "probe"
      }

      const transition = (state: State, at: number, failed: boolean, probe: boolean): [State, string] => {
        if (probe && state._tag === "HalfOpen") {
          return failed
            ? [open(state.openings + 1, at), "the probe failed"]
            : [closed, "the probe succeeded"]
        }
        // Results of calls that started before the circuit opened are stale.
        if (state._tag !== "Closed") return [state, ""]
        const start = at - (at % bucketMs)
        const kept = state.buckets.filter((bucket) => bucket.start > at - windowMs)
        const last = kept[kept.length - 1]
        const current = last !== undefined && last.start === start ? kept.pop()! : { start, ok: 0, failed: 0 }
        kept.push({ start, ok: current.ok + (failed ? 0 : 1), failed: current.failed + (failed ? 1 : 0) })
        const consecutive = failed ? state.consecutive + 1 : 0
        let total = 0
        let failures = 0
        for (const bucket of kept) {
          total += bucket.ok + bucket.failed
          failures += bucket.failed
        }
        if (consecutive >= settings.breakerConsecutiveFailures) {
          return [open(1, at), `${consecutive} consecutive failures`]
        }
        if (total >= settings.breakerMinRequests && failures / total >= settings.breakerFailureRate) {
          return [open(1, at), `${failures}/${total} failures in ${Duration.format(settings.breakerWindow)}`]
        }
        return [{ _tag: "Closed", consecutive, buckets: kept }, ""]
      }

      const settle = (failed: boolean, probe: boolean, at: number) => {
        const state = MutableRef.get(ref)
        const [next, reason] = transition(state, at, failed, probe)
        MutableRef.set(ref, next)
        changed(state, next, reason)
      }

      // Only reads: asking how long to wait never takes the probe.
      const waitTime = Effect.map(now, (at) => {
        const state = MutableRef.get(ref)
        if (state._tag === "Closed") return Duration.zero
        if (state._tag === "HalfOpen") return settings.breakerOpenBase
        return Duration.millis(Math.max(0, state.until - at))
      })

      const abandon = (probe: boolean, at: number) => {
        const state = MutableRef.get(ref)
        if (probe && state._tag === "HalfOpen") {
          MutableRef.set(ref, { _tag: "Open", until: at, openings: state.openings })
        }
      }

      return { admit, settle, abandon, waitTime, state: Effect.sync(() => MutableRef.get(ref)._tag) }
    })
  )
}
