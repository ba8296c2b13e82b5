import { Context, Data, Duration, Effect, Layer, Metric, Ref } from "effect"
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

/** One provider's circuit breaker. */
export class CircuitBreaker extends Context.Tag("@birthday/runner/CircuitBreaker")<CircuitBreaker, {
  /**
   * Runs `call` unless the circuit is open. `isFailure` says which results count against the
   * provider (an interrupted or failed call counts as a failure). Half-open lets one probe through.
   */
  readonly protect: <A, E, R>(
    call: Effect.Effect<A, E, R>,
    isFailure: (a: A) => boolean
  ) => Effect.Effect<A, E | BreakerOpen, R>
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
      const ref = yield* Ref.make<State>(closed)
      const now = Effect.clockWith((clock) => clock.currentTimeMillis)
      yield* Metric.set(gauge, 0)

      const changed = (from: State, to: State, reason: string) =>
        from._tag === to._tag
          ? Effect.void
          : Effect.zipRight(
            Metric.set(gauge, stateValue[to._tag]),
            Effect.logWarning(`Circuit breaker ${from._tag} → ${to._tag}: ${reason}`).pipe(
              Effect.annotateLogs({ provider: settings.providerName })
            )
          )

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

      // Decides whether a call may go: "call", "probe" or the time to wait.
      const acquire = Effect.gen(function*() {
        const at = yield* now
        type Decision = readonly ["call" | "probe" | Duration.Duration, State, State]
        const [decision, before, after] = yield* Ref.modify(ref, (state): readonly [Decision, State] => {
          if (state._tag === "Closed") return [["call", state, state], state]
          if (state._tag === "HalfOpen") return [[settings.breakerOpenBase, state, state], state]
          if (at < state.until) return [[Duration.millis(state.until - at), state, state], state]
          // Only one fiber makes the Open → HalfOpen step; it carries the probe.
          const next: State = { _tag: "HalfOpen", openings: state.openings }
          return [["probe", state, next], next]
        })
        if (Duration.isDuration(decision)) return yield* new BreakerOpen({ retryIn: decision })
        yield* changed(before, after, "probing the provider")
        return decision
      })

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

      const record = (failed: boolean, probe: boolean) =>
        Effect.gen(function*() {
          const at = yield* now
          const [before, after, reason] = yield* Ref.modify(ref, (state) => {
            const [next, why] = transition(state, at, failed, probe)
            return [[state, next, why] as const, next]
          })
          yield* changed(before, after, reason)
        })

      const protect = <A, E, R>(call: Effect.Effect<A, E, R>, isFailure: (a: A) => boolean) =>
        Effect.flatMap(acquire, (mode) =>
          call.pipe(
            Effect.onExit((exit) => record(exit._tag === "Failure" || isFailure(exit.value), mode === "probe"))
          ))

      const waitTime = Effect.gen(function*() {
        const state = yield* Ref.get(ref)
        if (state._tag === "Closed") return Duration.zero
        if (state._tag === "HalfOpen") return settings.breakerOpenBase
        return Duration.millis(Math.max(0, state.until - (yield* now)))
      })

      return { protect, waitTime, state: Effect.map(Ref.get(ref), (state) => state._tag) }
    })
  )
}
