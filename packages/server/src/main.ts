import { PgLive } from "@birthday/ledger/Database"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { HttpServerLive } from "./HttpServerLive.js"

HttpServerLive.pipe(
  Layer.provide(PgLive),
  Layer.provide(observabilityLayer("birthday-server")),
  Layer.launch,
  NodeRuntime.runMain
)
