import { BirthdayApi } from "@birthday/domain"
import { MigrationsLive } from "@birthday/ledger/Database"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { HttpApiBuilder, HttpApiSwagger, type HttpApp, HttpMiddleware, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import { AuthorizationLive } from "./AuthorizationLive.js"
import { DeliveriesHttpLive } from "./DeliveriesHttp.js"
import { DeliveryHistory } from "./DeliveryHistory.js"
import { DeliveryReplay } from "./DeliveryReplay.js"
import { HealthHttpLive } from "./HealthHttp.js"
import { ImportHttpLive } from "./ImportHttp.js"
import { InFlightRequests } from "./InFlightRequests.js"
import { LedgerHttpLive } from "./LedgerHttp.js"
import { MetricsHttpLive } from "./MetricsHttp.js"
import { OccurrencesHttpLive } from "./OccurrencesHttp.js"
import { OperationsHttpLive } from "./OperationsHttp.js"
import { RateLimiter, rateLimitMiddleware } from "./RateLimiter.js"
import { ServerSettings } from "./ServerSettings.js"
import { UserService } from "./UserService.js"
import { UsersHttpLive } from "./UsersHttp.js"

/** The API with every group's handlers; needs a SqlClient. */
export const ApiLive = HttpApiBuilder.api(BirthdayApi).pipe(
  Layer.provide([
    UsersHttpLive,
    HealthHttpLive,
    ImportHttpLive,
    OperationsHttpLive,
    OccurrencesHttpLive,
    DeliveriesHttpLive,
    LedgerHttpLive
  ]),
  Layer.provide([UserService.Default, AuthorizationLive, OccurrenceLedger.Default]),
  Layer.provide([DeliveryHistory.Default, DeliveryReplay.Default]),
  Layer.provide(MigrationsLive)
)

const refuseWhileDraining = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.flatMap(InFlightRequests, (inFlight) => inFlight.refuseWhileDraining(app))

/** The HTTP server on `HTTP_HOST:HTTP_PORT` with docs, OpenAPI, rate limit, access logs and a drain on shutdown. */
export const HttpServerLive = Layer.unwrapEffect(Effect.gen(function*() {
  const { httpHost, httpPort } = yield* ServerSettings
  const serve = HttpApiBuilder.serve((app) => HttpMiddleware.logger(refuseWhileDraining(rateLimitMiddleware(app))))
    .pipe(
      Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
      Layer.provide(MetricsHttpLive),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
      Layer.provide(ApiLive),
      Layer.provide(RateLimiter.Default),
      HttpServer.withLogAddress
    )
  const server = createServer()
  return InFlightRequests.drainOnShutdown(server).pipe(
    Layer.provide(serve),
    Layer.provide(InFlightRequests.Default),
    Layer.provide(NodeHttpServer.layer(() => server, { port: httpPort, host: httpHost }))
  )
})).pipe(Layer.provide(ServerSettings.layer))
