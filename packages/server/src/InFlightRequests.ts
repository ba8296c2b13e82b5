import type { HttpApp } from "@effect/platform"
import { HttpServerResponse } from "@effect/platform"
import { Effect, Layer, Schedule } from "effect"
import type { Server } from "node:http"
import { ServerSettings } from "./ServerSettings.js"

/** The answer to a request that arrives while the server drains (also given by FastUserRead). */
export const shuttingDown = {
  status: 503,
  body: { _tag: "ShuttingDown", message: "The server is shutting down" },
  headers: { connection: "close", "retry-after": "1" }
} as const

/**
 * Graceful shutdown. Requests are counted as node receives them (before any fiber runs, so a
 * request that just arrived is never missed); on shutdown new requests are answered 503 with
 * `Connection: close`, the ones in flight finish (up to `SHUTDOWN_GRACE`), then the listener and
 * every connection close — all while the handler and the pool are still there.
 */
export class InFlightRequests extends Effect.Service<InFlightRequests>()("@birthday/server/InFlightRequests", {
  effect: Effect.gen(function*() {
    const { shutdownGrace } = yield* ServerSettings
    let draining = false

    const drain = Effect.fn("InFlightRequests.drain")(function*(server: Server, active: () => number) {
      draining = true
      yield* Effect.logInfo(`Shutting down: draining ${active()} request(s) in flight`)
      yield* Effect.void.pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: () => active() === 0 }),
        Effect.timeout(shutdownGrace),
        Effect.ignore
      )
      yield* Effect.logInfo(active() === 0 ? "All requests finished" : `Grace period over with ${active()} in flight`)
      server.close()
      server.closeAllConnections()
    })

    /** Answers 503 instead of running `app` once draining has begun. */
    const refuseWhileDraining = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
      Effect.suspend(() =>
        draining
          ? HttpServerResponse.json(shuttingDown.body, { status: shuttingDown.status, headers: shuttingDown.headers })
            .pipe(Effect.orDie)
          : app
      )
    return { drain, refuseWhileDraining, isDraining: () => draining } as const
  })
}) {
  /**
   * Counts `server`'s requests and drains them on shutdown. Built after the server starts
   * serving so that, layers closing in reverse, it runs before the handler is unmounted.
   */
  static readonly drainOnShutdown = (server: Server) =>
    Layer.scopedDiscard(Effect.gen(function*() {
      const inFlight = yield* InFlightRequests
      let active = 0
      const count = (_: unknown, response: { once: (event: "close", f: () => void) => void }) => {
        active++
        response.once("close", () => active--)
      }
      server.on("request", count)
      yield* Effect.addFinalizer(() => inFlight.drain(server, () => active))
    }))
}
