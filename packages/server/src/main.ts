import { PgLive } from "@birthday/ledger/Database"
import { DatabaseTimeLive } from "@birthday/ledger/DatabaseTime"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { runRole } from "@birthday/telemetry/RoleMain"
import { Layer } from "effect"
import { HttpServerLive } from "./HttpServerLive.js"
import { serverPorts } from "./ServerStartSettings.js"

runRole(
  "birthday-server",
  HttpServerLive.pipe(
    Layer.provide(PgLive),
    // Everything the server builds runs on database time (CLOCK_OFFSET, tests only, on top).
    Layer.provide(DatabaseTimeLive),
    Layer.provide(observabilityLayer("birthday-server"))
  ),
  serverPorts
)
