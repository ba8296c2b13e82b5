import { ClockOffsetConfig, clockOffsetLayer } from "@birthday/domain"
import { PgLive } from "@birthday/ledger/Database"
import { observabilityLayer } from "@birthday/telemetry/Observability"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpServerLive } from "./HttpServerLive.js"

/** `CLOCK_OFFSET` (tests only) moves the clock of everything the server builds. */
const ClockLive = Layer.unwrapEffect(Effect.map(Effect.orDie(ClockOffsetConfig), clockOffsetLayer))

HttpServerLive.pipe(
  Layer.provide(PgLive),
  Layer.provide(ClockLive),
  Layer.provide(observabilityLayer("birthday-server")),
  Layer.launch,
  NodeRuntime.runMain
)
