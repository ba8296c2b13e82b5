import { HttpMiddleware } from "@effect/platform"
import { Effect, Layer } from "effect"
import { PgLive } from "./Database.js"
import { HttpServerLive } from "./HttpServerLive.js"
import { observabilityLayer } from "./Observability.js"
import { runRole } from "./RoleMain.js"
import { ServerConfig } from "./ServerConfig.js"

runRole(
  "birthday-server",
  HttpServerLive.pipe(
    // Probes and scrapes are not traced: they would outnumber the requests that matter.
    HttpMiddleware.withTracerDisabledForUrls(["/health/live", "/health/ready", "/metrics"]),
    Layer.provide(PgLive),
    Layer.provide(observabilityLayer("birthday-server"))
  ),
  Effect.map(ServerConfig, (config) => [{ setting: "HTTP_PORT", port: config.httpPort }])
)
