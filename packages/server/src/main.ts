import { Effect, Layer } from "effect"
import { PgLive } from "./Database.js"
import { HttpServerLive } from "./HttpServerLive.js"
import { observabilityLayer } from "./Observability.js"
import { runRole } from "./RoleMain.js"
import { ServerConfig } from "./ServerConfig.js"

runRole(
  "birthday-server",
  HttpServerLive.pipe(Layer.provide(PgLive), Layer.provide(observabilityLayer("birthday-server"))),
  Effect.map(ServerConfig, (config) => [{ setting: "HTTP_PORT", port: config.httpPort }])
)
