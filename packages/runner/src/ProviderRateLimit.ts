import { Context, Effect, Layer, Ref } from "effect"
import { DeliverySettings } from "./DeliveryConfig.js"

/**
 * At most `PROVIDER_RATE_LIMIT` provider requests per second from this runner, with a burst of
 * `PROVIDER_RATE_BURST`. Callers wait for their slot (first come, first served), so a catch-up
 * backlog drains at the provider's pace in the order the stream hands it out: oldest first.
 */
export class ProviderRateLimit extends Context.Tag("@birthday/runner/ProviderRateLimit")<ProviderRateLimit, {
  /** Waits until one more request may go. */
  readonly take: Effect.Effect<void>
}>() {
  static readonly layer = Layer.effect(
    ProviderRateLimit,
    Effect.gen(function*() {
      const { providerRateBurst, providerRateLimit } = yield* DeliverySettings
      if (providerRateLimit === 0) return { take: Effect.void }
      const interval = 1000 / providerRateLimit
      const tolerance = interval * providerRateBurst
      // GCRA: the theoretical arrival time of the next request.
      const tat = yield* Ref.make(0)
      const take = Effect.gen(function*() {
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const wait = yield* Ref.modify(tat, (theoretical) => {
          const next = Math.max(theoretical, now) + interval
          return [Math.max(0, next - tolerance - now), next]
        })
        if (wait > 0) yield* Effect.sleep(wait)
      })
      return { take }
    })
  )
}
