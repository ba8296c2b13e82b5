import { ClockOffsetConfig, clockOffsetLayer } from "@birthday/domain"
import { PgLive } from "@birthday/ledger/Database"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { runRole } from "@birthday/telemetry/RoleMain"
import { HttpMiddleware } from "@effect/platform"
import { Effect, Layer } from "effect"
import { HttpServerLive } from "./HttpServerLive.js"
import { ServerConfig } from "./ServerConfig.js"

/** `CLOCK_OFFSET` (tests only) moves the clock of everything the server builds. */
const ClockLive = Layer.unwrapEffect(Effect.map(Effect.orDie(ClockOffsetConfig), clockOffsetLayer))

runRole(
  "birthday-server",
  HttpServerLive.pipe(
    // Probes and scrapes are not traced: they would outnumber the requests that matter.
    HttpMiddleware.withTracerDisabledForUrls(["/health/live", "/health/ready", "/metrics"]),
    Layer.provide(PgLive),
    Layer.provide(ClockLive),
    Layer.provide(observabilityLayer("birthday-server"))
  ),
  Effect.map(ServerConfig, (config) => [{ setting: "HTTP_PORT", port: config.httpPort }])
)
