import { Context, Effect, Layer } from "effect"
import { DeliverySettings } from "./DeliveryConfig.js"

/**
 * At most `PROVIDER_RATE_LIMIT` provider requests per second from this runner, with a burst of
 * `PROVIDER_RATE_BURST`. Callers wait for their slot (first come, first served), so a catch-up
 * backlog drains at the provider's pace in the order the stream hands it out: oldest first.
 */
export class ProviderRateLimit extends Context.Tag("@birthday/runner/ProviderRateLimit")<ProviderRateLimit, {
  /**
   * Reserves the next slot at `at` (the clock's milliseconds) and returns how many milliseconds
   * to wait before using it; synchronous, for the send path, which makes no fiber per message.
   */
  readonly reserve: (at: number) => number
}>() {
  static readonly layer = Layer.effect(
    ProviderRateLimit,
    Effect.gen(function*() {
      const { providerRateBurst, providerRateLimit } = yield* DeliverySettings
      if (providerRateLimit === 0) return { reserve: () => 0 }
      const interval = 1000 / providerRateLimit
      const tolerance = interval * providerRateBurst
      // GCRA: the theoretical arrival time of the next request.
      let tat = 0
      const reserve = (at: number) => {
        const next = Math.max(tat, at) + interval
        tat = next
        return Math.max(0, next - tolerance - at)
      }
      return { reserve }
    })
  )
}
