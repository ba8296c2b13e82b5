import type { HttpApp } from "@effect/platform"
import { HttpServerResponse } from "@effect/platform"
import { Effect, Layer, Schedule } from "effect"
import type { Server } from "node:http"
import { ServerSettings } from "./ServerSettings.js"

/**
 * Graceful shutdown: counts requests in flight; `drain` (run first when the server stops) refuses
 * new requests with 503 and `Connection: close`, then waits up to `SHUTDOWN_GRACE` for the ones
 * in flight, while the handler, the pool and the socket are all still open.
 */
export class InFlightRequests extends Effect.Service<InFlightRequests>()("@birthday/server/InFlightRequests", {
  effect: Effect.gen(function*() {
    const { shutdownGrace } = yield* ServerSettings
    let active = 0
    let draining = false

    const drain = Effect.gen(function*() {
      draining = true
      yield* Effect.logInfo(`Shutting down: draining ${active} request(s) in flight`)
      yield* Effect.void.pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: () => active === 0 }),
        Effect.timeout(shutdownGrace),
        Effect.ignore
      )
      yield* Effect.logInfo(active === 0 ? "All requests finished" : `Grace period over with ${active} in flight`)
    }).pipe(Effect.withSpan("InFlightRequests.drain"))

    /** Wraps the app so every request is counted while it runs. */
    const track = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
      Effect.suspend(() => {
        if (draining) {
          return HttpServerResponse.json({ _tag: "ShuttingDown", message: "The server is shutting down" }, {
            status: 503,
            headers: { connection: "close", "retry-after": "1" }
          }).pipe(Effect.orDie)
        }
        active++
        return Effect.ensuring(app, Effect.sync(() => active--))
      })
    return { track, drain } as const
  })
}) {
  /**
   * Drains `server` on shutdown: requests in flight finish while new ones are answered 503, then
   * the listener and every connection close. Built
   * after the server starts serving so that, layers closing in reverse, it runs before the
   * request handler is unmounted.
   */
  static readonly drainOnShutdown = (server: Server) =>
    Layer.scopedDiscard(
      Effect.flatMap(InFlightRequests, (inFlight) =>
        Effect.addFinalizer(() =>
          inFlight.drain.pipe(
            Effect.zipRight(Effect.sync(() => {
              server.close()
              server.closeAllConnections()
            }))
          )
        ))
    )
}
