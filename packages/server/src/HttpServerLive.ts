import { BirthdayApi } from "@birthday/domain"
import { MigrationsLive } from "@birthday/ledger/Database"
import { OccurrenceLedger } from "@birthday/ledger/OccurrenceLedger"
import { HttpApiBuilder, HttpApiSwagger, type HttpApp, HttpMiddleware, HttpServer } from "@effect/platform"
import { Duration, Effect, FiberRef, Layer, Option } from "effect"
import { createServer } from "node:http"
import { ApiTokens } from "./ApiTokens.js"
import { AuthorizationLive } from "./AuthorizationLive.js"
import { guardConnections } from "./ConnectionGuard.js"
import { DeliveriesHttpLive } from "./DeliveriesHttp.js"
import { DeliveryHistory } from "./DeliveryHistory.js"
import { DeliveryReplay } from "./DeliveryReplay.js"
import { compressDocs } from "./DocsCompression.js"
import { answerExpectations } from "./ExpectHeader.js"
import { FastUserRead } from "./FastUserRead.js"
import { HealthHttpLive } from "./HealthHttp.js"
import { answerHostlessAndConnect } from "./HostAndConnect.js"
import { HotRoutes, hotRoutesMiddleware } from "./HotRoutes.js"
import { ApiErrorResponses, refuseUnreadableParameters } from "./HttpEdge.js"
import { ImportHttpLive } from "./ImportHttp.js"
import { InFlightRequests } from "./InFlightRequests.js"
import { LedgerHttpLive } from "./LedgerHttp.js"
import { MetricsHttpLive } from "./MetricsHttp.js"
import { OccurrencesHttpLive } from "./OccurrencesHttp.js"
import { OperationsHttpLive } from "./OperationsHttp.js"
import { RateLimiter, rateLimitMiddleware } from "./RateLimiter.js"
import { TelemetryConfig } from "./ServerConfig.js"
import { ServerSettings } from "./ServerSettings.js"
import { answerWhileStarting } from "./StartupGate.js"
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

/** Probes and scrapes are not traced: they would outnumber the requests that matter. */
const untracedUrls = ["/health/live", "/health/ready", "/metrics"]

/**
 * How the requests served by `serve` are traced. With an OTLP endpoint, each request is a span
 * (probes and scrapes aside) with its service calls and queries inside. Without one no span
 * leaves the process, and building them (a request span with its URL parsed and headers
 * redacted, then one per service call and query) cost a fifth of a read's CPU: the request
 * fibers run with the tracer off.
 */
const requestTracing = (traced: boolean) => <A, E, R>(serve: Layer.Layer<A, E, R>) =>
  traced
    ? HttpMiddleware.withTracerDisabledForUrls(serve, untracedUrls)
    : serve.pipe(
      HttpMiddleware.withTracerDisabledWhen(() => true),
      Layer.locally(FiberRef.currentTracerEnabled, false)
    )

/**
 * The HTTP server on `HTTP_HOST:HTTP_PORT` with docs, OpenAPI, rate limit, JSON errors for
 * whatever the API does not answer, bounded client timeouts and connections, and a drain on
 * shutdown. There is no access log line per response: at the API's rate it cost more than the
 * request (failures are logged where they happen).
 */
export const HttpServerLive = Layer.unwrapEffect(Effect.gen(function*() {
  const settings = yield* ServerSettings
  const { otlpEndpoint } = yield* TelemetryConfig
  const { headersTimeout, httpHost, httpPort, idleTimeout, maxConnections, requestTimeout } = settings
  const serve = HttpApiBuilder.serve((app) =>
    refuseWhileDraining(rateLimitMiddleware(compressDocs(refuseUnreadableParameters(hotRoutesMiddleware(app)))))
  )
    .pipe(
      Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
      Layer.provide(MetricsHttpLive),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
      Layer.provide(ApiErrorResponses),
      Layer.provide(ApiLive),
      Layer.provide(HotRoutes.Default.pipe(Layer.provide([UserService.Default, MigrationsLive]))),
      Layer.provide([RateLimiter.Default, ApiTokens.Default]),
      HttpServer.withLogAddress,
      requestTracing(Option.isSome(otlpEndpoint))
    )
  // Slow clients are bounded: headers and the whole request must arrive in time (checked every
  // second, not Node's 30 s), idle keep-alive sockets close, connections past the cap are
  // dropped on arrival, and one address cannot hold them all (ConnectionGuard).
  const server = answerWhileStarting(answerExpectations(
    answerHostlessAndConnect(guardConnections(
      createServer({
        // Answered in the API's error shape by answerHostlessAndConnect, not by Node's empty 400.
        requireHostHeader: false,
        headersTimeout: Duration.toMillis(headersTimeout),
        requestTimeout: Duration.toMillis(requestTimeout),
        keepAliveTimeout: Duration.toMillis(idleTimeout),
        connectionsCheckingInterval: Math.min(1000, Duration.toMillis(headersTimeout))
      }),
      settings
    )),
    settings.maxBodyBytes
  ))
  server.maxConnections = maxConnections
  // Reads of one user are answered in front of the app (FastUserRead); the services that decide
  // them are the app's own instances (layers are shared by reference within the build).
  return InFlightRequests.drainOnShutdown(server).pipe(
    Layer.provide(serve),
    Layer.provide(FastUserRead.serverLayer(server, { port: httpPort, host: httpHost })),
    Layer.provide(FastUserRead.Default),
    Layer.provide([InFlightRequests.Default, RateLimiter.Default, ApiTokens.Default])
  )
})).pipe(Layer.provide(ServerSettings.layer))
