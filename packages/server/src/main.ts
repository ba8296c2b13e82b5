import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { PgLive } from "./Database.js"
import { HttpServerLive } from "./HttpServerLive.js"
import { observabilityLayer } from "./Observability.js"

HttpServerLive.pipe(
  Layer.provide(PgLive),
  Layer.provide(observabilityLayer("birthday-server")),
  Layer.launch,
  NodeRuntime.runMain
)
