import { BirthdayApi } from "@birthday/domain"
import { HttpApiBuilder, HttpApiSwagger, HttpMiddleware, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import { AuthorizationLive } from "./AuthorizationLive.js"
import { MigrationsLive } from "./Database.js"
import { DeliveriesHttpLive } from "./DeliveriesHttp.js"
import { DeliveryHistory } from "./DeliveryHistory.js"
import { DeliveryReplay } from "./DeliveryReplay.js"
import { HealthHttpLive } from "./HealthHttp.js"
import { ImportHttpLive } from "./ImportHttp.js"
import { MetricsHttpLive } from "./MetricsHttp.js"
import { OccurrenceLedger } from "./OccurrenceLedger.js"
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
    DeliveriesHttpLive
  ]),
  Layer.provide([UserService.Default, AuthorizationLive, OccurrenceLedger.Default]),
  Layer.provide([DeliveryHistory.Default, DeliveryReplay.Default]),
  Layer.provide(MigrationsLive)
)

/** The HTTP server on `HTTP_HOST:HTTP_PORT` with docs, OpenAPI, rate limit and access logs. */
export const HttpServerLive = Layer.unwrapEffect(Effect.gen(function*() {
  const { httpHost, httpPort } = yield* ServerSettings
  return HttpApiBuilder.serve((app) => HttpMiddleware.logger(rateLimitMiddleware(app))).pipe(
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(MetricsHttpLive),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(ApiLive),
    Layer.provide(RateLimiter.Default),
    HttpServer.withLogAddress,
    Layer.provide(NodeHttpServer.layer(createServer, { port: httpPort, host: httpHost }))
  )
})).pipe(Layer.provide(ServerSettings.layer))
