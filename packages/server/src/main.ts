import { PgLive } from "@birthday/ledger/Database"
import { DatabaseTimeLive } from "@birthday/ledger/DatabaseTime"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { runRole } from "@birthday/telemetry/RoleMain"
import { HttpMiddleware } from "@effect/platform"
import { Layer } from "effect"
import { HttpServerLive } from "./HttpServerLive.js"
import { serverPorts } from "./ServerStartSettings.js"

runRole(
  "birthday-server",
  HttpServerLive.pipe(
    // Probes and scrapes are not traced: they would outnumber the requests that matter.
    HttpMiddleware.withTracerDisabledForUrls(["/health/live", "/health/ready", "/metrics"]),
    Layer.provide(PgLive),
    // Everything the server builds runs on database time (CLOCK_OFFSET, tests only, on top).
    Layer.provide(DatabaseTimeLive),
    Layer.provide(observabilityLayer("birthday-server"))
  ),
  serverPorts
)
